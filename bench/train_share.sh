#!/usr/bin/env bash
# Training alone and beside a CPU hog (one busy process per core), with
# catdog-train, for environment/flag variants alternating round by round:
# the median epoch images/s (epochs 2-7) of each run and the share kept.
#
#   bench/train_share.sh [ROUNDS] [VARIANT...]
# A VARIANT is "ENV=VALUE ...:FLAGS", e.g. "OMP_WAIT_POLICY=PASSIVE:--threads 2";
# RANKS=N among the ENV words runs N data-parallel ranks on loopback
# (torchrun's environment; FLAGS apply to each rank, rank 0's images/s is
# the whole group's).
# Default: 3 rounds of libgomp's default and PASSIVE at 2 threads, and 1 thread.
set -euo pipefail
cd "$(dirname "$0")/.."
build="$(cd "${BUILD_DIR:-build}" && pwd)"
data="${CATDOG_DATA_DIR:-$(pwd)/../shared/data/catdog}"
rounds="${1:-3}"; shift || true
variants=("$@")
[[ ${#variants[@]} -gt 0 ]] || variants=("OMP_WAIT_POLICY=PASSIVE:--threads 2" "OMP_WAIT_POLICY=:--threads 2" "OMP_WAIT_POLICY=PASSIVE:--threads 1")
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_train_share_XXXXXX")"
hogs=()
stop_hogs() { for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done; hogs=(); }
trap 'stop_hogs; rm -rf "$work"' EXIT
hog() { for _ in $(seq "$(nproc)"); do (while :; do :; done) & hogs+=($!); done; }
source bench/photos.sh
bench_photos "$work/root" 120 4
median_ips() { awk '$1 ~ /^[0-9]+$/ && $1 > 1 { print $8 }' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
train() {  # ENV_WORDS FLAGS
  # shellcheck disable=SC2086
  env $1 "$build/tools/catdog-train" "$work/root/pets" --out "$work/out" --image-size 64 --width 0.5 --epochs 7 \
    --early-stop-patience 100 $2 2>/dev/null
}
run() {  # ENV_WORDS FLAGS
  rm -rf "$work/out"
  local ranks; ranks=$(sed -n 's/.*RANKS=\([0-9]*\).*/\1/p' <<<"$1")
  if [[ -z $ranks ]]; then train "$1" "$2" | median_ips; return; fi
  local port; port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  for r in $(seq 1 $((ranks - 1))); do
    train "$1 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=$ranks RANK=$r" "$2" >/dev/null &
  done
  train "$1 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=$ranks RANK=0" "$2" | median_ips
  wait
}
echo "round variant solo_ips hog_ips share"
for round in $(seq "$rounds"); do
  for v in "${variants[@]}"; do
    envw=${v%%:*}; flags=${v#*:}
    solo=$(run "$envw" "$flags")
    hog; beside=$(run "$envw" "$flags"); stop_hogs
    echo "$round ${envw// /_}_${flags// /} $solo $beside $(awk -v a="$solo" -v b="$beside" 'BEGIN { printf "%.2f", b / a }')"
  done
done
