#!/usr/bin/env bash
# Data-parallel cost on this machine, two ranks on loopback (Gloo):
#
#   bench/ddp.sh [N]          N averagings of a full-width VGG16's gradients
#                             (about 66 MB of fp32) in 25 MB buckets
#   bench/ddp.sh --step [N]   N training steps (forward, backward, averaging)
#                             each way, alternating: averaging after backward
#                             against a GradientReducer during it. WIDTH (0.5),
#                             BATCH (16 a rank) and SIZE (64 px) set the step.
#
# BUILD_DIR: build.
set -euo pipefail
cd "$(dirname "$0")/.."
build="$(cd "${BUILD_DIR:-build}" && pwd)"
args=()
if [[ "${1:-}" == --step ]]; then
  args=(--time-step "${2:-20}" --width "${WIDTH:-0.5}" --batch "${BATCH:-16}" --size "${SIZE:-64}")
else
  args=(--time-allreduce "${1:-10}")
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for r in 0 1; do
  MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=2 RANK=$r \
    "$build/tests/catdog-ddp-check" "${args[@]}" >"$out/$r.log" &
done
wait
cat "$out/0.log"
if [[ "${args[0]}" == --time-allreduce ]]; then
  awk '{ print $6 }' "$out/0.log" | sort -n | awk '{ v[NR] = $1 } END { printf "median %.1f ms over %d allreduces\n", v[int((NR + 1) / 2)], NR }'
else
  grep median "$out/1.log"
fi
