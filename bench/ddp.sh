#!/usr/bin/env bash
# Data-parallel cost on this machine: two ranks on loopback (Gloo) average a
# full-width VGG16's gradients (about 59 MB of fp32) N times, in 25 MB buckets.
#
#   bench/ddp.sh [N]      (BUILD_DIR: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build="$(cd "${BUILD_DIR:-build}" && pwd)"
n="${1:-10}"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for r in 0 1; do
  MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=2 RANK=$r \
    "$build/tests/catdog-ddp-check" --time-allreduce "$n" >"$out/$r.log" &
done
wait
cat "$out/0.log"
awk '{ print $6 }' "$out/0.log" | sort -n | awk '{ v[NR] = $1 } END { printf "median %.1f ms over %d allreduces\n", v[int((NR + 1) / 2)], NR }'
