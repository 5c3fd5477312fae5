#!/usr/bin/env bash
# Fair sharing of the CPU: a training job's images/s and Classify's p50
# latency, each alone, together in one catdogd, and beside a CPU hog (one
# busy process per core), for each catdogd variant given, alternating
# variants round by round so a slow or fast hour hits all alike.
#
#   bench/fair_share.sh [ROUNDS] [VARIANT...]
#
# A VARIANT is words for catdogd: NAME=VALUE words go to its environment,
# job:FLAG words go to the training job (e.g. "job:--workers=2"), nice:N
# starts catdogd under `nice -n N` (training and serving), the rest are
# flags, e.g. "OMP_WAIT_POLICY=PASSIVE" or "--serving-nice -10";
# "default" adds nothing. Default: 2 rounds of "default" and
# "OMP_WAIT_POLICY=PASSIVE". Environment: CATDOG_DATA_DIR, BUILD_DIR (build),
# THREADS (2), WINDOW_S (12, seconds per measurement).
set -euo pipefail
cd "$(dirname "$0")/.."
build="$(cd "${BUILD_DIR:-build}" && pwd)"
rounds="${1:-2}"; shift || true
variants=("$@"); [[ ${#variants[@]} -gt 0 ]] || variants=(default OMP_WAIT_POLICY=PASSIVE)
threads="${THREADS:-2}"; window="${WINDOW_S:-12}"
data="${CATDOG_DATA_DIR:-$(pwd)/../shared/data/catdog}"
ctl="$build/client/catdogctl"
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_fair_XXXXXX")"
pid=""; hogs=()
stop_hogs() { for h in "${hogs[@]}"; do kill "$h" 2>/dev/null || true; done; hogs=(); }
cleanup() { stop_hogs; [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
source deploy/catdogd-launch.sh
source bench/photos.sh

bench_photos "$work/data_root" 120 16
train_flags=(--image-size 64 --width 0.5 --batch-size 16 --threads "$threads")

hog() { for _ in $(seq "$(nproc)"); do (while :; do :; done) & hogs+=($!); done; }
# Classify p50 (ms) over the window: one caller, one image a request.
p50() { "$ctl" --json --timeout 30 bench "${images[@]}" -c 1 -d "$window" |
  sed -nE 's/.*"p50_ms":([0-9.]+).*/\1/p'; }
# Median training images/s of the epochs that ended in the last window.
train_ips() {
  local from=$1
  awk -v from="$from" '$1 >= from { print $2 }' "$work/epochs.txt" | sort -n |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else print v[int((NR + 1) / 2)] }'
}

echo "round variant train_alone train_with_classify train_beside_hog classify_alone_ms classify_with_training_ms classify_beside_hog_ms"
for round in $(seq "$rounds"); do
  for variant in "${variants[@]}"; do
    env_words=(env); flag_words=(); job_words=(); nice_words=()
    for w in $variant; do
      if [[ $w == default ]]; then :
      elif [[ $w =~ ^[A-Z_]+= ]]; then env_words+=("$w")
      elif [[ $w == job:* ]]; then job_words+=("${w#job:}")
      elif [[ $w == nice:* ]]; then nice_words=(nice -n "${w#nice:}")
      else flag_words+=("$w"); fi
    done
    rm -rf "$work/state"
    catdogd_start "$work" "$work/catdogd.log" "${env_words[@]}" "${nice_words[@]}" "$build/server/catdogd" --listen 127.0.0.1:0 \
      --data-root "$work/data_root" --state-dir "$work/state" --threads "$threads" --log-level warn "${flag_words[@]}"
    pid=$CATDOG_PID
    # A model to serve, then a job that trains throughout the windows.
    first="$("$ctl" start-training pets "${train_flags[@]}" --epochs 1)"
    "$ctl" watch "$first" >/dev/null
    c_alone=$(p50)
    hog; c_hog=$(p50); stop_hogs
    job="$("$ctl" start-training pets "${train_flags[@]}" "${job_words[@]}" --epochs 1000 --early-stop-patience 1000 \
      --no-promote)"
    : >"$work/epochs.txt"
    "$ctl" --json watch "$job" | while IFS= read -r line; do
      ips=$(sed -nE 's/.*"train_images_per_second":([0-9.e+-]+).*/\1/p' <<<"$line")
      [[ -n "$ips" ]] && echo "$(date +%s.%N) $ips" >>"$work/epochs.txt"
    done &
    # Training alone: the window after its first (decoding) epoch.
    until [[ $(wc -l <"$work/epochs.txt") -ge 1 ]]; do sleep 0.5; done
    t0=$(date +%s.%N); sleep "$window"; t_alone=$(train_ips "$t0")
    t0=$(date +%s.%N); c_with=$(p50); t_with=$(train_ips "$t0")
    hog; t0=$(date +%s.%N); sleep "$window"; t_hog=$(train_ips "$t0"); stop_hogs
    "$ctl" cancel "$job" >/dev/null
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    echo "$round ${variant// /_} $t_alone $t_with $t_hog $c_alone $c_with $c_hog"
  done
done
