#!/usr/bin/env bash
# deploy/gpu-bundle.sh makes an archive within its size limit, and that archive
# alone (plus the compiler, CMake and Debian's LibTorch) builds and runs the
# probe that uses every bundled library (deploy/gpu-bundle-check.sh).
#   gpu_bundle_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src="$1"
out="$2/gpu_bundle_test"
rm -rf "$out"
mkdir -p "$out"
"$src/deploy/gpu-bundle.sh" "$out/catdog-deps.tar.xz"
tar -tJf "$out/catdog-deps.tar.xz" > "$out/contents.txt"
grep -qx 'catdog-deps/env.sh' "$out/contents.txt"
"$src/deploy/gpu-bundle-check.sh" "$out/catdog-deps.tar.xz"
