#!/usr/bin/env bash
# Packs every build and runtime dependency of catdog except LibTorch (gRPC,
# Protobuf with protoc and grpc_cpp_plugin, Abseil, OpenCV core/imgproc/
# imgcodecs, spdlog, fmt, SQLite, CLI11, nlohmann-json, prometheus-cpp, OpenSSL,
# zlib, GoogleTest) from this machine's Debian packages into one relocatable
# archive, for a GPU host that has CUDA, CMake, Ninja and PyTorch but none of
# these (README "GPU hosts"):
#
#   deploy/gpu-bundle.sh [OUT.tar.xz]          (default: dist/catdog-deps.tar.xz)
#
# On the host:
#   tar -xJf catdog-deps.tar.xz && source catdog-deps/env.sh
#   deploy/build.sh -DCMAKE_PREFIX_PATH="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
#
# The layout is Debian's (usr/include, usr/lib/x86_64-linux-gnu, usr/bin), so the
# packages' own CMake configs work unchanged: they locate their files relative to
# themselves. OpenCV gets a three-module config of ours instead of Debian's,
# which lists all of its 40 modules.
#
# Stubs. Debian's libopencv_imgcodecs is linked (with BIND_NOW) against GDAL,
# GDCM and OpenEXR: hundreds of MB of closure for formats catdog never decodes.
# Each of those libraries is replaced by a stub with the same SONAME that
# defines exactly the symbols the bundled libraries import from it, generated
# from the real library's symbol table here, so it matches this exact build.
# What runs whether or not those formats are used does nothing: constructors
# and destructors (imgcodecs has static OpenEXR objects, built at load time)
# and GDALAllRegister (called when OpenCV registers its codecs). Every other
# function aborts with its name; catdog never reaches them, since its decoder
# refuses every format but JPEG, PNG, WebP, BMP, TIFF and PBM/PGM/PPM by
# signature, before OpenCV sees the bytes. A symbol that another bundled or
# system library also defines is left out, so a stub never takes a real
# definition's place. Only libraries nothing else in a catdog process loads
# are stubbed: LAPACK, BLAS and libGLX (which libopencv_core links too) are
# bundled whole, because LibTorch or libGL may need the real ones.
#
# The host needs glibc >= 2.36 and a libstdc++ from GCC >= 12 (Debian 12's);
# env.sh checks both. Configure a fresh build folder after sourcing env.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist/catdog-deps.tar.xz}"
max_mib="${CATDOG_BUNDLE_MAX_MIB:-25}"
arch=x86_64-linux-gnu
L="/usr/lib/$arch"

# Headers, CMake configs and unversioned .so links come from these packages.
DEV_PKGS=(libgrpc++-dev libgrpc-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libabsl-dev libcivetweb-dev civetweb libspdlog-dev libfmt-dev libsqlite3-dev libcli11-dev nlohmann-json3-dev
  zlib1g-dev libssl-dev prometheus-cpp-dev libc-ares-dev libre2-dev libgtest-dev libgmock-dev)
OPENCV_MODULES=(core imgproc imgcodecs)
# Libraries replaced by stubs (see above).
STUBS=(libgdal.so.32 libgdcmMSFF.so.3.0 libgdcmDSED.so.3.0 libOpenEXR-3_1.so.30)

die() { echo "gpu-bundle: $*" >&2; exit 1; }
for p in "${DEV_PKGS[@]}" $(printf 'libopencv-%s-dev ' "${OPENCV_MODULES[@]}"); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    die "package $p is not installed (deploy/install-deps.sh installs it)"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/catdog-deps"
mkdir -p "$root/usr/lib/$arch" "$root/usr/libexec/catdog-deps"

copy_path() {  # /usr/... -> $root/usr/..., keeping symlinks as symlinks
  mkdir -p "$root$(dirname "$1")"
  cp -a "$1" "$root$1"
}

wanted() {
  case "$1" in
    /usr/share/doc/*|/usr/share/man/*|/usr/share/lintian/*|*/pkgconfig/*) return 1 ;;
    */libgtest*.a|*/libgmock*.a) return 0 ;;
    *.a) return 1 ;;
    /usr/include/*|/usr/lib/$arch/*|/usr/share/cmake/*|/usr/bin/*) return 0 ;;
  esac
  return 1
}

for p in "${DEV_PKGS[@]}"; do
  dpkg -L "$p" | while read -r f; do
    if [[ -f "$f" || -L "$f" ]] && wanted "$f"; then copy_path "$f"; fi
  done
done
for m in "${OPENCV_MODULES[@]}"; do
  dpkg -L "libopencv-$m-dev" | while read -r f; do
    if [[ -f "$f" || -L "$f" ]] && [[ "$f" == /usr/include/* || "$f" == "$L/libopencv_$m.so" ]]; then
      copy_path "$f"
    fi
  done
done
# Multiarch headers (openssl/opensslconf.h, opencv2/cvconfig.h) join the others:
# only Debian's compiler searches usr/include/x86_64-linux-gnu.
cp -a "$root/usr/include/$arch/." "$root/usr/include/"
rm -rf "${root:?}/usr/include/$arch"

soname() { readelf -d "$1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p'; }
# The unversioned links point at the runtime packages' files: bundle each under
# its file name (the CMake configs name it) and its SONAME (the loader's name).
for link in "$root/usr/lib/$arch"/*.so; do
  [[ -L "$link" ]] || continue
  real=$(readlink -f "$L/$(basename "$link")")
  name=$(soname "$real")
  [[ -n "$name" ]] || die "$real has no SONAME"
  cp "$real" "$root/usr/lib/$arch/"
  [[ "$name" == "$(basename "$real")" ]] || ln -sf "$(basename "$real")" "$root/usr/lib/$arch/$name"
done

# Our own OpenCV config: the three modules, paths relative to itself.
ocv="$root/usr/lib/$arch/cmake/opencv4"
mkdir -p "$ocv"
opencv_version=$(dpkg-query -W -f='${Version}' libopencv-core-dev | sed 's/[+-].*//')
cat > "$ocv/OpenCVConfig.cmake" <<EOF
# catdog's GPU bundle: OpenCV ${opencv_version} ${OPENCV_MODULES[*]} only (deploy/gpu-bundle.sh).
get_filename_component(_ocv_prefix "\${CMAKE_CURRENT_LIST_DIR}/../../../.." ABSOLUTE)
set(OpenCV_VERSION ${opencv_version})
set(OpenCV_INCLUDE_DIRS "\${_ocv_prefix}/include/opencv4")
set(OpenCV_LIBS)
foreach(_m ${OPENCV_MODULES[*]})
  if(NOT TARGET opencv_\${_m})
    add_library(opencv_\${_m} SHARED IMPORTED)
    set_target_properties(opencv_\${_m} PROPERTIES
      IMPORTED_LOCATION "\${_ocv_prefix}/lib/$arch/libopencv_\${_m}.so"
      INTERFACE_INCLUDE_DIRECTORIES "\${OpenCV_INCLUDE_DIRS}")
  endif()
  list(APPEND OpenCV_LIBS opencv_\${_m})
endforeach()
foreach(_c \${OpenCV_FIND_COMPONENTS})
  if(NOT TARGET opencv_\${_c})
    set(OpenCV_FOUND FALSE)
    set(OpenCV_NOT_FOUND_MESSAGE "catdog's bundle has no OpenCV module \${_c}")
    return()
  endif()
endforeach()
set(OpenCV_FOUND TRUE)
EOF
cat > "$ocv/OpenCVConfig-version.cmake" <<EOF
set(PACKAGE_VERSION ${opencv_version})
set(PACKAGE_VERSION_COMPATIBLE TRUE)
EOF

# library_config NAME TARGET LIBRARY WITH_HEADERS WHY: a CMake config of ours
# for one bundled library.
library_config() {
  local name="$1" target="$2" lib="$3" headers="$4" why="$5"
  mkdir -p "$root/usr/lib/$arch/cmake/$name"
  cat > "$root/usr/lib/$arch/cmake/$name/${name}Config.cmake" <<EOF
# catdog's GPU bundle (deploy/gpu-bundle.sh): $why
get_filename_component(_${name}_prefix "\${CMAKE_CURRENT_LIST_DIR}/../../../.." ABSOLUTE)
if(NOT TARGET $target)
  add_library($target SHARED IMPORTED)
  set_target_properties($target PROPERTIES IMPORTED_LOCATION "\${_${name}_prefix}/lib/$arch/$lib")
  if($headers)
    set_target_properties($target PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "\${_${name}_prefix}/include")
  endif()
endif()
set(${name}_FOUND TRUE)
EOF
}
# RE2 has no CMake config in Debian, and gRPC's fallback needs pkg-config.
library_config re2 re2::re2 libre2.so TRUE "gRPC's find_package(re2) without pkg-config."
# prometheus-cpp's config finds CURL for its push library, which catdog does not
# use: the bundled libcurl (no headers) satisfies it.
library_config CURL CURL::libcurl libcurl.so.4 FALSE "libcurl without headers, for prometheus-cpp's config."

# protoc and the gRPC plugins find the bundle's libraries through a wrapper.
for bin in "$root"/usr/bin/*; do
  name=$(basename "$bin")
  real=$(readlink -f "/usr/bin/$name")
  rm "$bin"
  cp "$real" "$root/usr/libexec/catdog-deps/$name"
  cat > "$bin" <<'EOF'
#!/bin/sh
prefix=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
LD_LIBRARY_PATH="$prefix/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  exec "$prefix/libexec/catdog-deps/$(basename "$0")" "$@"
EOF
  chmod +x "$bin"
done

is_base_runtime() {
  case "$1" in
    libc.so.*|libm.so.*|libdl.so.*|librt.so.*|libpthread.so.*|ld-linux*|libresolv.so.*) return 0 ;;
    libstdc++.so.*|libgcc_s.so.*) return 0 ;;
  esac
  return 1
}
ldconfig -p > "$work/ldconfig.txt"
system_lib() { awk -v n="$1" '$1 == n && /x86-64/ {print $NF; exit}' "$work/ldconfig.txt"; }
is_stub() { local s; for s in "${STUBS[@]}"; do [[ "$1" == "$s" ]] && return 0; done; return 1; }
needed() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
elf_files() {
  find "$root/usr/lib/$arch" "$root/usr/libexec/catdog-deps" -maxdepth 1 -type f |
    while read -r f; do if [[ "$(head -c4 "$f")" == $'\x7fELF' ]]; then echo "$f"; fi; done
}

# Runtime closure: every library a bundled ELF file needs, except the C and C++
# runtime and the stubbed ones.
while :; do
  added=0
  for f in $(elf_files); do
    for n in $(needed "$f"); do
      is_base_runtime "$n" && continue
      is_stub "$n" && continue
      [[ -e "$root/usr/lib/$arch/$n" ]] && continue
      src=$(system_lib "$n")
      [[ -n "$src" ]] || die "cannot find $n (needed by $(basename "$f"))"
      cp -L "$src" "$root/usr/lib/$arch/$n"
      added=1
    done
  done
  [[ $added == 1 ]] || break
done

# The stubs.
defined_by() {  # names a library defines: "NAME TYPE"
  nm -D --defined-only "$1" | awk 'NF == 3 {sub(/@.*/, "", $3); print $3, $2}'
}
others="$work/others.txt"
{
  for f in $(elf_files); do defined_by "$f"; done
  for b in libc.so.6 libm.so.6 libstdc++.so.6 libgcc_s.so.1; do
    defined_by "$(system_lib "$b")"
  done
} | awk '{print $1}' | sort -u > "$others"
for s in "${STUBS[@]}"; do
  importers=$(for f in $(elf_files); do needed "$f" | grep -qxF "$s" && echo "$f"; done || true)
  [[ -n "$importers" ]] || continue
  real="$L/$s"
  [[ -e "$real" ]] || die "$s is not installed here; cannot derive its stub"
  # What the importers leave undefined (version tags must be absent: the stub has none).
  for f in $importers; do nm -D --undefined-only "$f" | awk '{print $NF}'; done | sort -u > "$work/undef.txt"
  defined_by "$real" | sort -u > "$work/real.txt"
  awk 'NR == FNR {u[$1] = 1; next} ($1 in u) {print}' "$work/undef.txt" "$work/real.txt" |
    awk 'NR == FNR {o[$1] = 1; next} !($1 in o)' "$others" - > "$work/stub_syms.txt"
  grep -q '@' "$work/stub_syms.txt" && die "$s: versioned symbols are not supported"
  c="$work/stub.c"
  {
    echo '#include <stdio.h>'
    echo '#include <stdlib.h>'
    echo "static void stub_called(const char* name) { fprintf(stderr, \"catdog bundle: %s from the stub $s was called; this build of catdog cannot use it\\n\", name); abort(); }"
    i=0
    while read -r name type; do
      i=$((i + 1))
      weak=""
      case "$type" in W|V|w|v) weak="__attribute__((weak)) " ;; esac
      case "$type:$name" in
        [TtWwi]:_ZN*C[123]E*|[TtWwi]:_ZN*D[012]E*|[TtWwi]:GDALAllRegister)  # run at load or codec registration
          echo "${weak}void f$i(void) __asm__(\"$name\"); ${weak}void f$i(void) {}" ;;
        [TtWwi]:*)
          echo "${weak}void f$i(void) __asm__(\"$name\"); ${weak}void f$i(void) { stub_called(\"$name\"); }" ;;
        *) echo "${weak}char d$i[64] __asm__(\"$name\");" ;;
      esac
    done < "$work/stub_syms.txt"
  } > "$c"
  gcc -shared -fPIC -O1 -Wl,-soname,"$s" -o "$root/usr/lib/$arch/$s" "$c"
  echo "gpu-bundle: stub $s: $(wc -l < "$work/stub_syms.txt") symbols for $(echo "$importers" | xargs -n1 basename | tr '\n' ' ')"
done
# Every NEEDED name must now be in the bundle or the base runtime.
for f in $(elf_files); do
  for n in $(needed "$f"); do
    is_base_runtime "$n" || [[ -e "$root/usr/lib/$arch/$n" ]] || die "$(basename "$f") needs $n, which is not bundled"
  done
done
strip --strip-unneeded "$root/usr/lib/$arch"/*.so.* "$root/usr/libexec/catdog-deps"/* 2>/dev/null || true

cat > "$root/env.sh" <<'EOF'
# source catdog-deps/env.sh: puts the bundle's CMake configs, libraries and
# protoc first, and checks that this host's C and C++ runtime can load them.
CATDOG_DEPS=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)
export CATDOG_DEPS
export CMAKE_PREFIX_PATH="$CATDOG_DEPS/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export PATH="$CATDOG_DEPS/usr/bin:$PATH"
# Binaries get an RPATH (not RUNPATH) to the bundle, which the loader also
# follows for the bundled libraries' own dependencies; no LD_LIBRARY_PATH, so
# nothing else started from this shell sees the bundle. Read by CMake when it
# first configures a build folder.
export LDFLAGS="-Wl,--disable-new-dtags${LDFLAGS:+ $LDFLAGS}"
if ! "$CATDOG_DEPS/usr/bin/protoc" --version >/dev/null 2>&1; then
  echo "catdog-deps: the bundled protoc does not run here (needs glibc >= 2.36, libstdc++ of GCC >= 12):" >&2
  "$CATDOG_DEPS/usr/bin/protoc" --version >&2 || true
fi
EOF
{
  echo "catdog-deps: built $(date -u +%FT%TZ) on $(. /etc/os-release; echo "$PRETTY_NAME")"
  dpkg-query -W -f='${Package} ${Version}\n' "${DEV_PKGS[@]}" $(printf 'libopencv-%s-dev ' "${OPENCV_MODULES[@]}")
  echo "stubs: ${STUBS[*]}"
} > "$root/VERSIONS"

mkdir -p "$(dirname "$out")"
XZ_OPT="-9 -T0" tar -C "$work" -cJf "$out" catdog-deps
size=$(stat -c %s "$out")
echo "gpu-bundle: $out: $((size / 1024)) KiB packed, $(du -sk "$root" | cut -f1) KiB unpacked," \
  "$(find "$root/usr/lib/$arch" -maxdepth 1 -name '*.so.*' -type f | wc -l) libraries"
(( size <= max_mib * 1024 * 1024 )) || die "$out is over ${max_mib} MiB"
