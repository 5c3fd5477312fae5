#!/usr/bin/env bash
# A/B of catdogd serving between two builds (e.g. before and after a
# change): the same checkpoint, the same images, one caller then 16 callers,
# the two servers alternating round by round so the machine's drift hits both.
# Prints one JSON line per measurement and a summary of medians and ratios.
#
#   bench/ab_serving.sh BUILD_A BUILD_B [ROUNDS]
#
# Environment: CATDOG_DATA_DIR (../shared/data/catdog; test photos to send),
# THREADS (2), SERVE_SECONDS (10), IMAGE_SIZE (64), WIDTH (1.0).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 2 ]] || { echo "usage: $0 BUILD_A BUILD_B [ROUNDS]" >&2; exit 2; }
a="$(cd "$1" && pwd)"; b="$(cd "$2" && pwd)"; rounds="${3:-3}"
threads="${THREADS:-2}"; seconds="${SERVE_SECONDS:-10}"
py=/usr/bin/python3
data="${CATDOG_DATA_DIR:-$(pwd)/../shared/data/catdog}"
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_ab_XXXXXX")"
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
source deploy/catdogd-launch.sh

if [[ -d "$data/test" ]]; then
  mapfile -t images < <(find "$data/test" -type f | sort -V | head -64)
else
  "$b/tests/catdog-make-dataset" "$work/images" 32 64 >/dev/null
  mapfile -t images < <(find "$work/images" -type f | sort -V)
fi
ckpt="$work/model.ckpt"
"$b/bench/catdog-bench" make-checkpoint --out "$ckpt" --image-size "${IMAGE_SIZE:-64}" --width "${WIDTH:-1.0}" >/dev/null

results="$work/results.jsonl"
for r in $(seq "$rounds"); do
  for side in A B; do
    build="$a"; [[ $side == B ]] && build="$b"
    catdogd_start "$work" "$work/catdogd_$side.log" "$build/server/catdogd" --listen 127.0.0.1:0 \
      --data-root "$work" --state-dir "$work/state_$side" --threads "$threads" \
      --serve-checkpoint "$ckpt" --log-level warn
    pid=$CATDOG_PID
    for c in 1 16; do
      line="$("$b/client/catdogctl" --server "$CATDOG_SERVER" --json bench "${images[@]}" -c "$c" -d "$seconds")"
      "$py" -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(side=sys.argv[2], round=int(sys.argv[3])); print(json.dumps(d))' \
        "$line" "$side" "$r" | tee -a "$results"
    done
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  done
done

"$py" - "$results" "$a" "$b" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(side, c, key):
    return statistics.median(r[key] for r in rows if r["side"] == side and r["concurrency"] == c)
print(f"A = {sys.argv[2]}\nB = {sys.argv[3]}")
for c, key, unit in [(1, "p50_ms", "ms p50"), (1, "images_per_second", "images/s"), (16, "images_per_second", "images/s"), (16, "p50_ms", "ms p50")]:
    va, vb = med("A", c, key), med("B", c, key)
    print(f"{c:>2} caller(s): A {va:8.2f} {unit}, B {vb:8.2f} {unit}, B/A {vb / va:.3f}")
PY
