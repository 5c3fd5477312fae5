#!/usr/bin/env bash
# Data-parallel catdog-train on the real photos against one process:
#   one     1 process, 1 thread, batch 16     (a rank's work alone: the step-time baseline)
#   ranks2  2 ranks (torchrun's environment), 1 thread each, batch 16 each (global 32)
#   two     1 process, 2 threads, batch 32    (the same global batch in one process)
# Prints each epoch's images/s, the best valid accuracy and the test accuracy.
#
#   bench/ddp_train.sh [EPOCHS]   (CATDOG_DATA_DIR, BUILD_DIR; 64 px, width 0.5)
set -euo pipefail
cd "$(dirname "$0")/.."
build="$(cd "${BUILD_DIR:-build}" && pwd)"
data="${CATDOG_DATA_DIR:-$(pwd)/../shared/data/catdog}"
epochs="${1:-8}"
train="$build/tools/catdog-train"
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_ddp_train_XXXXXX")"
trap 'rm -rf "$work"' EXIT
common=("$data/train" --test-root "$data/test" --image-size 64 --width 0.5 --epochs "$epochs"
        --early-stop-patience 1000 --seed 42)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

report() {  # NAME LOG
  echo "== $1"
  awk '$1 ~ /^[0-9]+$/ { printf "epoch %s img/s %s valid_acc %s\n", $1, $8, $4 }' "$2"
  grep -E "^best epoch|^test \(best" "$2"
}
"$train" "${common[@]}" --out "$work/one" --threads 1 --batch-size 16 >"$work/one.log" 2>&1
report one "$work/one.log"
for r in 0 1; do
  MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=2 RANK=$r \
    "$train" "${common[@]}" --out "$work/ranks2" --threads 1 --batch-size 16 >"$work/ranks2.$r.log" 2>&1 &
done
wait
report ranks2 "$work/ranks2.0.log"
echo "checkpoints: $(ls "$work/ranks2" | tr '\n' ' ')"
"$train" "${common[@]}" --out "$work/two" --threads 2 --batch-size 32 >"$work/two.log" 2>&1
report two "$work/two.log"
