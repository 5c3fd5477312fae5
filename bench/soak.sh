#!/usr/bin/env bash
# Soak run: 64 callers classify for SECONDS while a training job runs and
# the serving model is promoted back and forth every 10 s. Reports failed
# requests, latency percentiles, promotions and catdogd's RSS every 5 s.
#
#   bench/soak.sh [SECONDS]      (default 600)
#
# Environment: CATDOG_DATA_DIR (../shared/data/catdog, else synthetic
# images), BUILD_DIR (build), THREADS (2), CALLERS (64).
set -euo pipefail
cd "$(dirname "$0")/.."
build="$(cd "${BUILD_DIR:-build}" && pwd)"
seconds="${1:-600}"; threads="${THREADS:-2}"; callers="${CALLERS:-64}"
data="${CATDOG_DATA_DIR:-$(pwd)/../shared/data/catdog}"
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_soak_XXXXXX")"
ctl="$build/client/catdogctl"
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
source deploy/catdogd-launch.sh
source bench/photos.sh

bench_photos "$work/data_root" 100 64

catdogd_start "$work" "$work/catdogd.log" "$build/server/catdogd" --listen 127.0.0.1:0 \
  --data-root "$work/data_root" --state-dir "$work/state" --threads "$threads" --log-level warn
pid=$CATDOG_PID
rss_mb() { awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$pid/status"; }

# Two checkpoints to swap between, then a long job that trains throughout.
first="$("$ctl" start-training pets --image-size 32 --width 0.25 --epochs 2 --threads "$threads")"
"$ctl" watch "$first" >/dev/null
long="$("$ctl" start-training pets --image-size 64 --width 0.25 --epochs 1000 --early-stop-patience 1000 --threads "$threads" --no-promote)"
echo "soak: $callers callers for $seconds s; training $long; promoting $first/best and $first/last in turn"
echo "soak: catdogd RSS before load: $(rss_mb) MiB"

"$ctl" --json --timeout 30 bench "${images[@]}" -c "$callers" -d "$seconds" >"$work/bench.json" &
load=$!
promotions=0; promote_failures=0; start=$SECONDS
echo "t_s rss_mib"
while kill -0 "$load" 2>/dev/null; do
  t=$((SECONDS - start))
  echo "$t $(rss_mb)"
  if (( t % 10 < 5 )); then
    kind=$([[ $((promotions % 2)) == 0 ]] && echo last || echo best)
    if "$ctl" promote "$first/$kind" >/dev/null 2>&1; then promotions=$((promotions + 1)); else promote_failures=$((promote_failures + 1)); fi
  fi
  sleep 5
done
wait "$load" || true
"$ctl" cancel "$long" >/dev/null || true
echo "soak: promotions $promotions, failed promotions $promote_failures"
echo "soak: training job: $("$ctl" --json status "$long" | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["state"], j["epochs_completed"], "epochs")')"
echo "soak: load: $(cat "$work/bench.json")"
echo "soak: catdogd RSS after: $(rss_mb) MiB"
