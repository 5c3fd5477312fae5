#!/usr/bin/env bash
# Makes what tests/gpu/e2e.sh needs on a bare GPU host, in .gpu/ (ignored by
# git; under the 64 MiB one device call may carry):
#   .gpu/catdog-deps.tar.xz   the dependency bundle (deploy/gpu-bundle.sh)
#   .gpu/catdog224/           the photos resized to 224 px (catdog-resize-dataset)
#
#   tests/gpu/prepare.sh [PHOTOS_DIR]     (default ../shared/data/catdog)
# then, on the GPU host, from the repository root:
#   BUNDLE=.gpu/catdog-deps.tar.xz DATA=.gpu/catdog224 tests/gpu/e2e.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
photos="${1:-../shared/data/catdog}"
[[ -d "$photos/train" && -d "$photos/test" ]] || { echo "$photos needs train/ and test/" >&2; exit 2; }
build="${BUILD_DIR:-build}"
[[ -x "$build/tools/catdog-resize-dataset" ]] || { echo "build first: deploy/build.sh" >&2; exit 2; }
mkdir -p .gpu
rm -rf .gpu/catdog224 .gpu/catdog-deps.tar.xz
deploy/gpu-bundle.sh .gpu/catdog-deps.tar.xz
"$build/tools/catdog-resize-dataset" "$photos" .gpu/catdog224 --size 224 --quality 85
du -sh .gpu/catdog-deps.tar.xz .gpu/catdog224
