#!/usr/bin/env bash
# Two data-parallel ranks as threads of one process (--workers 2) against
# two processes (--nproc-per-node 2), alternately, on the real photos: the
# same run (global batch 32, one thread a rank, 64 px, width 0.5), so only
# the mechanism differs. Prints each run's epoch times and images/s and,
# per round, processes' images/s over threads'.
#
#   bench/ranks_threads_vs_processes.sh [EPOCHS] [ROUNDS]   (CATDOG_DATA_DIR, BUILD_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
build="$(cd "${BUILD_DIR:-build}" && pwd)"
data="${CATDOG_DATA_DIR:-$(pwd)/../shared/data/catdog}"
epochs="${1:-3}"
rounds="${2:-2}"
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_ranks_XXXXXX")"
trap 'rm -rf "$work"' EXIT
common=("$data/train" --image-size 64 --width 0.5 --epochs "$epochs" --batch-size 32 --threads 2
        --early-stop-patience 1000 --seed 42 --progress-interval 0)

# Mean images/s over the epochs after the first (which decodes the photos).
mean_rate() { awk '$1 ~ /^[0-9]+$/ && $1 > 1 { s += $8; n++ } END { printf "%.1f", s / n }' "$1"; }

echo "# $(git rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores, $epochs epochs, $rounds rounds"
for round in $(seq "$rounds"); do
  for mode in threads processes; do
    flag=(--workers 2)
    [ "$mode" = processes ] && flag=(--nproc-per-node 2)
    log="$work/$mode.$round.log"
    start=$(date +%s.%N)
    "$build/tools/catdog-train" "${common[@]}" "${flag[@]}" --out "$work/$mode.$round" >"$log" 2>&1
    end=$(date +%s.%N)
    echo "== round $round $mode: $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s wall"
    awk '$1 ~ /^[0-9]+$/ { printf "epoch %s seconds %s img/s %s valid_acc %s\n", $1, $7, $8, $4 }' "$log"
    eval "rate_$mode=$(mean_rate "$log")"
  done
  # shellcheck disable=SC2154
  echo "RATIO round $round processes/threads images/s (epochs 2+): $rate_processes / $rate_threads = $(awk -v p="$rate_processes" -v t="$rate_threads" 'BEGIN { printf "%.3f", p / t }')"
done
