#!/usr/bin/env bash
# The single list of system packages catdog needs to build, test and run.
# Used by the README, .ci/run and the Dockerfile. Idempotent: safe to run again.
#
#   deploy/install-deps.sh             build + test dependencies
#   deploy/install-deps.sh --no-torch  the same without Debian's CPU LibTorch (for
#                                      a CUDA LibTorch from elsewhere, e.g. the GPU image)
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake ninja-build ccache pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libopencv-dev libabsl-dev libspdlog-dev libgtest-dev libgmock-dev
  libsqlite3-dev libcli11-dev nlohmann-json3-dev zlib1g-dev
  # tokens (SHA-256, random bytes); the openssl CLI makes the keys tests/security uses
  libssl-dev openssl
  # /metrics for Prometheus
  prometheus-cpp-dev
  python3-yaml
  # tests/fuzz: libFuzzer and AddressSanitizer
  clang libclang-rt-14-dev
  # bench/: the reference notebook loop and the plain Python server to compare with
  python3-torch python3-torchvision python3-grpcio python3-pil python3-protobuf
)
# Debian's CPU LibTorch, and the Gloo headers its c10d (data-parallel training) needs
TORCH_PKGS=(libtorch-dev libgloo-dev)

pkgs=("${BUILD_PKGS[@]}")
case "${1:-}" in
  "") pkgs+=("${TORCH_PKGS[@]}") ;;
  --no-torch) ;;
  *) echo "usage: $0 [--no-torch]" >&2; exit 2 ;;
esac

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
