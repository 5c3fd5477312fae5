#!/usr/bin/env bash
# Training recipes against each other on the shared photos (BENCHMARKS.md
# "Learning"): each contender trains on the 2000 training photos (stratified
# 1600 / 400 split) and its best-by-validation weights are evaluated on the
# 1200 test photos. Prints each run's validation accuracy against minutes and
# a summary: test accuracy with its 95% (Wilson) interval and each class's
# recall.
#
#   bench/learning.sh [CONTENDER ...]
#     CONTENDER = KIND:SIZE:EPOCHS[:SEED], KIND = reference | fast (catdog-train
#     --preset) or notebook (bench/reference_train.py, Debian's python3-torch)
#   e.g. bench/learning.sh reference:64:15:1 fast:64:15:1 notebook:64:15:1
#
# Equal compute: the reference's 15 epochs at 64 px are 24,000 training
# images at 64 px; 96 px costs 2.25x more per image. Environment: PARALLEL
# (runs at a time, default 1), THREADS (per run, default 2 / PARALLEL),
# CATDOG_DATA_DIR, BUILD_DIR, EXTRA (more catdog-train flags), KEEP (a folder
# to keep each catdog run's checkpoints in, as KEEP/KIND-SIZE-SEED).
set -euo pipefail
cd "$(dirname "$0")/.."
build="$(cd "${BUILD_DIR:-build}" && pwd)"
data="${CATDOG_DATA_DIR:-$(pwd)/../shared/data/catdog}"
parallel="${PARALLEL:-1}"
threads="${THREADS:-$((2 / parallel > 0 ? 2 / parallel : 1))}"
contenders=("$@")
[ ${#contenders[@]} -gt 0 ] || contenders=(reference:64:15:1 fast:64:15:1 reference:64:15:2 fast:64:15:2)
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_learning_XXXXXX")"
trap 'rm -rf "$work"' EXIT

run() {  # KIND SIZE EPOCHS SEED LOG
  local kind=$1 size=$2 epochs=$3 seed=$4 log=$5
  if [ "$kind" = notebook ]; then
    (cd bench && /usr/bin/python3 reference_train.py --data "$data" --image-size "$size" --epochs "$epochs" \
      --seed "$seed" --threads "$threads") >"$log" 2>&1
  else
    # shellcheck disable=SC2086
    "$build/tools/catdog-train" "$data/train" --test-root "$data/test" --out "${KEEP:-$work}/$kind-$size-$seed" \
      --preset "$kind" --image-size "$size" --epochs "$epochs" --seed "$seed" --threads "$threads" \
      --progress-interval 0 ${EXTRA:-} >"$log" 2>&1
  fi
}

summary() {  # NAME LOG
  local name=$1 log=$2
  echo "== $name"
  if grep -q '"contender": "notebook"' "$log"; then
    awk '/^epoch/ { printf "epoch %s minutes %s valid_acc %s\n", $2, $8, $6 }' "$log"
  else
    awk '$1 ~ /^[0-9]+$/ { m += $7 / 60; printf "epoch %s minutes %.2f valid_acc %s lr %s\n", $1, m, $4, $5 }' "$log"
    grep -E "time budget|^best epoch|^test \((best|last) weights\)" "$log" || true
  fi
  python3 - "$name" "$log" <<'PY'
import json, math, re, sys
name, text = sys.argv[1], open(sys.argv[2]).read()
notebook = [json.loads(l) for l in text.splitlines() if l.startswith('{"contender"')]
if notebook:
    r = notebook[-1]
    acc, n, cat, dog, minutes = r["test_accuracy"], 1200, r["recall"][0], r["recall"][1], r["minutes"]
else:
    m = re.search(r"test \(best weights\): loss \S+ accuracy (\S+) on (\d+) images; recall cat (\S+) dog (\S+)", text)
    if not m:
        sys.exit(print(f"RESULT {name} failed"))
    acc, n, cat, dog = float(m.group(1)), int(m.group(2)), float(m.group(3)), float(m.group(4))
    minutes = sum(float(l.split()[6]) for l in text.splitlines() if re.match(r"^\s+\d+\s", l)) / 60
z = 1.96  # Wilson score interval, 95%
centre = (acc + z * z / (2 * n)) / (1 + z * z / n)
half = z * math.sqrt(acc * (1 - acc) / n + z * z / (4 * n * n)) / (1 + z * z / n)
print(f"RESULT {name} test {acc:.4f} [{centre - half:.3f}, {centre + half:.3f}] "
      f"recall cat {cat:.4f} dog {dog:.4f} minutes {minutes:.1f}")
PY
}

echo "# bench/learning.sh ${contenders[*]} at $(git rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores, PARALLEL=$parallel THREADS=$threads ${EXTRA:+EXTRA=$EXTRA}"
i=0
while [ $i -lt ${#contenders[@]} ]; do
  batch=("${contenders[@]:$i:$parallel}")
  for c in "${batch[@]}"; do
    IFS=: read -r kind size epochs seed <<<"$c"
    run "$kind" "$size" "$epochs" "${seed:-42}" "$work/$c.log" &
  done
  wait
  for c in "${batch[@]}"; do summary "$c" "$work/$c.log"; done
  i=$((i + parallel))
done
