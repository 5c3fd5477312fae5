#!/usr/bin/env bash
# Data parallelism over c10d/Gloo with real processes on loopback:
#   1. two ranks average gradients exactly as one process would (catdog-ddp-check);
#   2. a rank that dies after joining fails the other with a clear error,
#      well within the collective timeout, instead of hanging.
#   ddp_test.sh BUILD_DIR
set -euo pipefail
build="$1"
check="$build/tests/catdog-ddp-check"
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_ddp_XXXXXX")"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; for f in "$work"/*.log; do echo "--- $f"; cat "$f"; done >&2; exit 1; }
# A port the OS picks (released again just before rank 0 binds it).
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

run_world() {  # NAME WORLD_SIZE ARGS... -> each rank's exit code in $work/NAME.<rank>.rc
  local name=$1 size=$2; shift 2
  local p; p=$(port); pids=()
  for ((r = 0; r < size; r++)); do
    (set +e; MASTER_ADDR=127.0.0.1 MASTER_PORT=$p WORLD_SIZE=$size RANK=$r LOCAL_RANK=$r \
      timeout 120 "$check" "$@" >"$work/$name.$r.log" 2>&1; echo $? >"$work/$name.$r.rc") &
    pids+=($!)
  done
  wait "${pids[@]}"
}

run_world exact 2 --steps 3
[[ "$(cat "$work/exact.0.rc")" != 77 ]] || { echo "SKIP: built without c10d's Gloo backend"; exit 77; }
for r in 0 1; do
  [[ "$(cat "$work/exact.$r.rc")" == 0 ]] || fail "rank $r: $(cat "$work/exact.$r.log")"
  grep -q "rank $r of 2: 3 steps.*: equal" "$work/exact.$r.log" || fail "rank $r did not report equality"
done
echo "ok: $(grep -h 'rank 0' "$work/exact.0.log")"

# Rank 1 leaves after joining; rank 0's first allreduce must fail, not hang.
p=$(port)
(MASTER_ADDR=127.0.0.1 MASTER_PORT=$p WORLD_SIZE=2 RANK=1 "$check" --die-after-join >"$work/die.1.log" 2>&1 || true) &
pids=($!)
set +e
MASTER_ADDR=127.0.0.1 MASTER_PORT=$p WORLD_SIZE=2 RANK=0 timeout 60 "$check" >"$work/die.0.log" 2>&1
rc=$?
set -e
wait "${pids[@]}" || true
[[ $rc == 3 ]] || fail "rank 0 exited $rc after its peer died (124 = hung until timeout)"
grep -q "did another rank die or stall" "$work/die.0.log" || fail "rank 0's error does not say what happened"
echo "ok: a dead peer fails the survivor: $(head -c 200 "$work/die.0.log")"
