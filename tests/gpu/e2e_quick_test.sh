#!/usr/bin/env bash
# tests/gpu/e2e.sh --quick (its steps on the CPU), once with time for all of
# them and once past its deadline, where the late stages must be skipped with
# a note rather than run or fail.
#   e2e_quick_test.sh BUILD_DIR OUT_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export BUILD_DIR="$1" PY=/usr/bin/python3
rm -rf "$2" && mkdir -p "$2"

OUT="$2/full" "$here/e2e.sh" --quick
grep -q '^catdog_fp32_seconds_to_test_results ' "$2/full/summary.txt"
grep -q '"state":"SUCCEEDED"' "$2/full/catdog_fp32_job.json"
grep -q '^catdog_fp32_epochs 2 train_seconds .* data_wait_share ' "$2/full/summary.txt"
[[ $(grep -c '^catdog_fp32 c' "$2/full/serving.txt") == 2 ]] || { echo "catdog serving results missing" >&2; exit 1; }
if grep -q skipped "$2/full/summary.txt"; then echo "a stage was skipped with time left" >&2; exit 1; fi

OUT="$2/late" DEADLINE_S=0 "$here/e2e.sh" --quick
grep -q '^skipped, .* left: catdog serving, fp32$' "$2/late/summary.txt"
grep -q '^skipped, .* left: python server$' "$2/late/summary.txt"
[[ ! -s "$2/late/serving.txt" ]] || { echo "served past the deadline" >&2; exit 1; }
echo "e2e_quick_test: passed"
