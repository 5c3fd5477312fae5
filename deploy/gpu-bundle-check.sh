#!/usr/bin/env bash
# Proves that a bundle made by deploy/gpu-bundle.sh is self-contained: it builds
# in a root that holds only the bundle, the compiler, CMake, Ninja and Debian's
# LibTorch, copied from this machine's packages (no gRPC, Protobuf, OpenCV,
# Abseil, spdlog, SQLite, ... headers, configs or libraries besides the bundle's).
#
#   deploy/gpu-bundle-check.sh BUNDLE.tar.xz          the probe: tests/deploy/bundle_probe
#                                                     (every bundled library once, protoc and
#                                                     grpc_cpp_plugin included), about a minute
#   deploy/gpu-bundle-check.sh BUNDLE.tar.xz --full   the whole project: deploy/build.sh, then
#                                                     ctest less the script tests, which need
#                                                     Python, clang or the openssl CLI (9 minutes
#                                                     on 2 cores)
#
# Needs root (chroot, a private mount namespace). Exit 77 without it.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=$(readlink -f "$1")
mode="${2:-probe}"
[[ $(id -u) -eq 0 ]] || { echo "gpu-bundle-check: needs root (chroot); skipped" >&2; exit 77; }
command -v unshare >/dev/null || { echo "gpu-bundle-check: needs unshare; skipped" >&2; exit 77; }

# The toolchain and Debian's LibTorch with everything they depend on, less the
# packages the bundle replaces (libtorch-dev depends on libprotobuf-dev).
TOOL_PKGS=(build-essential cmake ninja-build libtorch-dev libgloo-dev bash dash coreutils sed grep
  mawk findutils tar xz-utils)
BUNDLED='^(libgrpc.*-dev|libprotobuf-dev|libprotoc-dev|protobuf-compiler(-grpc)?|libabsl-dev|lib(civetweb|spdlog|fmt|sqlite3|cli11|ssl|c-ares|re2|gtest|gmock|opencv.*)-dev|nlohmann-json3-dev|zlib1g-dev|prometheus-cpp-dev)$'
pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
         --no-replaces --no-enhances "${TOOL_PKGS[@]}" | grep '^[a-zA-Z0-9]' | sort -u |
       while read -r p; do
         if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then echo "$p"; fi
       done | grep -Ev "$BUNDLED")

work=$(mktemp -d /tmp/catdog-bundle-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{tmp,dev,proc,etc,src,opt}
for p in $pkgs; do dpkg -L "$p"; done | sort -u | while read -r f; do
  if [[ -f "$f" || -L "$f" ]] && [[ "$f" != /usr/share/doc/* && "$f" != /usr/share/man/* ]]; then
    echo "${f#/}"
  fi
done > "$work/files.txt"
# usrmerge: /bin, /lib, /lib64 and /sbin are links into /usr.
tar -C / -cf - --no-recursion -T "$work/files.txt" |
  tar -C "$root" -xf - --transform 's,^\(bin\|sbin\|lib\|lib64\)/,usr/\1/,'
for d in bin sbin lib lib64; do [[ -L "/$d" ]] && cp -a "/$d" "$root/$d"; done
cp -a /etc/alternatives /etc/ld.so.conf /etc/ld.so.conf.d /etc/passwd /etc/group "$root/etc/"
ldconfig -r "$root"
tar -C "$root/opt" -xJf "$bundle"
echo "gpu-bundle-check: root of $(echo "$pkgs" | wc -l) packages, $(du -sm "$root" | cut -f1) MiB"
for header in grpcpp/grpcpp.h google/protobuf/message.h opencv4/opencv2/core.hpp absl/base/config.h spdlog/spdlog.h sqlite3.h; do
  [[ ! -e "$root/usr/include/$header" ]] || { echo "gpu-bundle-check: $header leaked into the root" >&2; exit 1; }
done

case "$mode" in
  probe) git ls-files -z --cached --others --exclude-standard tests/deploy/bundle_probe | tar -cf - --null -T - | tar -C "$root/src" -xf -
         steps='cmake -S /src/tests/deploy/bundle_probe -B /tmp/probe -G Ninja -DCMAKE_BUILD_TYPE=Release &&
                cmake --build /tmp/probe && /tmp/probe/bundle_probe' ;;
  --full) git ls-files -z --cached --others --exclude-standard | tar -cf - --null -T - | tar -C "$root/src" -xf -
         steps='cd /src && BUILD_DIR=/tmp/build deploy/build.sh -DCATDOG_USE_PCH=ON &&
                ctest --test-dir /tmp/build -j"$(nproc)" --output-on-failure -E "^(e2e|interop|bench_quick|fuzz_decode|deploy|security_tls|ddp|gpu_)"' ;;
  *) echo "usage: $0 BUNDLE.tar.xz [--full]" >&2; exit 2 ;;
esac
mknod -m 666 "$root/dev/null" c 1 3
mknod -m 666 "$root/dev/urandom" c 1 9
printf 'set -e\nsource /opt/catdog-deps/env.sh\n%s\n' "$steps" > "$root/tmp/steps.sh"
unshare --mount --fork /bin/bash -c "mount -t proc proc '$root/proc' &&
  chroot '$root' /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp /bin/bash /tmp/steps.sh"
echo "gpu-bundle-check: $mode passed with the bundle alone"
