#!/usr/bin/env bash
# The README's test command: installs dependencies, configures, builds and
# runs every test. Used by .ci/run and by developers alike.
#
#   deploy/test.sh            full build + all tests
#   BUILD_DIR=out deploy/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

./deploy/install-deps.sh
./deploy/build.sh
# Real photos live beside the checkout; tests skip cleanly when absent.
export CATDOG_DATA_DIR="${CATDOG_DATA_DIR:-$(pwd)/../shared/data/catdog}"
# Serial: every test process already uses both cores through LibTorch.
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure --no-tests=error --timeout 600
