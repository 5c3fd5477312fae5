#!/usr/bin/env bash
# Builds the decode fuzzer with clang and runs it from the checked-in corpus
# for a fixed number of inputs (CI: a few thousand, seconds). New inputs it
# finds go to a scratch copy, never into the repository.
#
#   tests/fuzz/run.sh BUILD_DIR [RUNS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$1"
runs="${2:-20000}"
command -v clang++ >/dev/null || { echo "fuzz: clang++ not installed (deploy/install-deps.sh)" >&2; exit 1; }
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$here" -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" >/dev/null
corpus="$(mktemp -d "${TMPDIR:-/tmp}/catdog_fuzz_XXXXXX")"
trap 'rm -rf "$corpus"' EXIT
cp "$here"/corpus/* "$corpus/"
# -rss_limit_mb: decoding stays far below; a leak or a missed bomb does not.
"$build/decode_fuzzer" -runs="$runs" -max_len=65536 -timeout=10 -rss_limit_mb=1024 -seed=1 "$corpus"
