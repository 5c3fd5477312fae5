#!/usr/bin/env bash
# The single list of system packages catdog needs to build, test and run.
# Used by the README, .ci/run and the Dockerfile. Idempotent: safe to run again.
#
#   deploy/install-deps.sh            build + test dependencies
#   deploy/install-deps.sh --runtime  only what a built catdogd/catdogctl needs at run time
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libopencv-dev libabsl-dev libspdlog-dev libgtest-dev libgmock-dev
  libsqlite3-dev libcli11-dev nlohmann-json3-dev
  python3-yaml
)
RUNTIME_PKGS=(
  libtorch1.13 libgrpc++1.51 libprotobuf32 libopencv-imgcodecs406 libopencv-imgproc406
  libopencv-core406 libsqlite3-0 libspdlog1.10 libfmt9 libabsl20220623 ca-certificates
)

pkgs=("${BUILD_PKGS[@]}")
if [[ "${1:-}" == "--runtime" ]]; then pkgs=("${RUNTIME_PKGS[@]}"); fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
