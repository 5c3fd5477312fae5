#!/usr/bin/env bash
# Copies catdogd, catdogctl, catdog-train and every shared library they load into
# OUT/bin and OUT/lib, except the C and C++ runtime that every base image
# has. The Dockerfile's runtime stage is this folder on a slim base, so the
# image needs no -dev packages and no package names that differ between
# distributions. Checked in CI by tests/deploy/deploy_test.sh.
#
#   deploy/collect-runtime.sh BUILD_DIR OUT [EXTRA_LIB_DIR ...]
#
# EXTRA_LIB_DIR: folders copied whole into OUT/lib, for libraries that are
# loaded with dlopen and so invisible to ldd (a CUDA LibTorch's lib/ folder:
# cuDNN loads its sub-libraries that way).
set -euo pipefail
build="$1"
out="$2"
shift 2
mkdir -p "$out/bin" "$out/lib"
cp "$build/server/catdogd" "$build/client/catdogctl" "$build/tools/catdog-train" "$out/bin/"
for dir in "$@"; do cp -L "$dir"/*.so* "$out/lib/"; done

is_base_runtime() {
  case "$1" in
    libc.so.*|libm.so.*|libdl.so.*|librt.so.*|libpthread.so.*|ld-linux*|libresolv.so.*) return 0 ;;
    libstdc++.so.*|libgcc_s.so.*) return 0 ;;
  esac
  return 1
}

for bin in "$out"/bin/*; do
  LD_LIBRARY_PATH="$out/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$bin" | awk '/=> \//{print $1, $3}'
done | sort -u | while read -r name path; do
  is_base_runtime "$name" && continue
  [[ -e "$out/lib/$name" ]] || cp -L "$path" "$out/lib/$name"
done
echo "collect-runtime: $(ls "$out/lib" | wc -l) libraries, $(du -sh "$out" | cut -f1) in $out"
