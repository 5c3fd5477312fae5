#!/usr/bin/env bash
# Classify's p50 alone and beside a CPU hog (one busy process per core), for
# several catdogd variants serving the same checkpoint at once (--serve-only),
# measured one after another, round by round, so a slow or fast hour hits all
# alike. Many short rounds: the fair_share.sh figure with more samples.
#
#   bench/classify_share.sh [ROUNDS] [VARIANT...]
#
# A VARIANT is catdogd flags ("default" adds none), e.g. "--serving-nice -10".
# Default: 10 rounds of "default" and "--serving-nice -10". Environment:
# CATDOG_DATA_DIR, BUILD_DIR (build), THREADS (2), WINDOW_S (10, seconds per
# measurement).
set -euo pipefail
cd "$(dirname "$0")/.."
build="$(cd "${BUILD_DIR:-build}" && pwd)"
rounds="${1:-10}"; shift || true
variants=("$@"); [[ ${#variants[@]} -gt 0 ]] || variants=(default "--serving-nice -10")
threads="${THREADS:-2}"; window="${WINDOW_S:-10}"
data="${CATDOG_DATA_DIR:-$(pwd)/../shared/data/catdog}"
ctl="$build/client/catdogctl"
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_classify_share_XXXXXX")"
pids=(); hogs=()
stop_hogs() { for h in "${hogs[@]}"; do kill "$h" 2>/dev/null || true; done; hogs=(); }
cleanup() { stop_hogs; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
source deploy/catdogd-launch.sh
source bench/photos.sh

bench_photos "$work/data_root" 120 16
"$build/tools/catdog-train" "$work/data_root/pets" --out "$work/model" --image-size 64 --width 0.5 \
  --batch-size 16 --epochs 1 --threads "$threads" >/dev/null 2>&1
servers=()
for variant in "${variants[@]}"; do
  flags=(); [[ $variant == default ]] || read -r -a flags <<<"$variant"
  catdogd_start "$work" "$work/catdogd.log" "$build/server/catdogd" --serve-only --model "$work/model/best.ckpt" \
    --listen 127.0.0.1:0 --threads "$threads" --log-level warn "${flags[@]}"
  pids+=("$CATDOG_PID"); servers+=("$CATDOG_SERVER")
done
hog() { for _ in $(seq "$(nproc)"); do (while :; do :; done) & hogs+=($!); done; }
# Classify p50 (ms) over the window: one caller, one image a request.
p50() { "$ctl" --server "$1" --json --timeout 30 bench "${images[@]}" -c 1 -d "$window" |
  sed -nE 's/.*"p50_ms":([0-9.]+).*/\1/p'; }

echo "round variant alone_ms beside_hog_ms share"
for round in $(seq "$rounds"); do
  for i in "${!variants[@]}"; do
    alone=$(p50 "${servers[$i]}"); hog; beside=$(p50 "${servers[$i]}"); stop_hogs
    echo "$round ${variants[$i]// /_} $alone $beside $(awk -v a="$alone" -v b="$beside" 'BEGIN { printf "%.0f%%", 100 * a / b }')"
  done
done
