#!/usr/bin/env bash
# Data parallelism over c10d/Gloo with real processes on loopback:
#   1. two ranks average gradients exactly as one process would (catdog-ddp-check),
#      after backward and while it runs;
#   2. a rank that dies after joining fails the other with a clear error,
#      well within the collective timeout, instead of hanging;
#   3. catdog-train started as torchrun starts workers: two ranks train,
#      rank 0 alone writes the checkpoints and prints the epochs, and the
#      run learns as one process does;
#   4. a catdog-train rank killed mid-run fails the other at once.
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
# The same while backward runs (GradientReducer), with buckets started early.
run_world overlap 2 --steps 3 --overlap
for r in 0 1; do
  [[ "$(cat "$work/overlap.$r.rc")" == 0 ]] || fail "rank $r, overlapped: $(cat "$work/overlap.$r.log")"
  grep -q "rank $r of 2: 3 steps.*: equal" "$work/overlap.$r.log" || fail "rank $r did not report equality (overlapped)"
done
echo "ok, overlapped: $(grep -h 'rank 0' "$work/overlap.0.log" | tr '\n' ' ')"

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

# catdog-train, two ranks against one process at the same global batch (16:
# two ranks of 8), on a small synthetic dataset.
train="$build/tools/catdog-train"
"$build/tests/catdog-make-dataset" "$work/data" 48 32 >/dev/null
flags=(--image-size 32 --width 0.125 --lr 3e-3 --threads 1 --loader-workers 1 --dist-timeout-s 60)
timeout 300 "$train" "$work/data" --out "$work/single" --epochs 6 --batch-size 16 "${flags[@]}" >"$work/single.log" 2>&1 \
  || fail "one process"
p=$(port); pids=()
for r in 0 1; do
  (set +e; MASTER_ADDR=127.0.0.1 MASTER_PORT=$p WORLD_SIZE=2 RANK=$r LOCAL_RANK=$r timeout 300 \
    "$train" "$work/data" --out "$work/dp" --epochs 6 --batch-size 8 "${flags[@]}" >"$work/dp.$r.log" 2>&1
   echo $? >"$work/dp.$r.rc") &
  pids+=($!)
done
wait "${pids[@]}"
for r in 0 1; do [[ "$(cat "$work/dp.$r.rc")" == 0 ]] || fail "catdog-train rank $r exited $(cat "$work/dp.$r.rc")"; done
[[ "$(ls "$work/dp")" == "$(printf 'best.ckpt\nlast.ckpt')" ]] || fail "checkpoints: $(ls "$work/dp")"
[[ "$(grep -c '^ *[0-9]' "$work/dp.0.log")" == 6 ]] || fail "rank 0 should print 6 epoch rows"
! grep -q '^ *[0-9]' "$work/dp.1.log" || fail "rank 1 printed epoch rows"
grep -q "rank 1 of 2 joined" "$work/dp.1.log" || fail "rank 1 did not join"
acc() { awk '$1 ~ /^[0-9]+$/ { a = $4 } END { print a }' "$1"; }
single_acc=$(acc "$work/single.log"); dp_acc=$(acc "$work/dp.0.log")
awk -v s="$single_acc" -v d="$dp_acc" 'BEGIN { exit !(d >= 0.9 && s >= 0.9) }' \
  || fail "final valid accuracy: one process $single_acc, two ranks $dp_acc (both should learn the easy set)"
echo "ok: catdog-train on two ranks: valid accuracy $dp_acc (one process: $single_acc), one set of checkpoints"

# Rank 1 killed while both train: rank 0 fails with the reason, not a hang.
p=$(port)
(set +e; MASTER_ADDR=127.0.0.1 MASTER_PORT=$p WORLD_SIZE=2 RANK=0 timeout 300 \
  "$train" "$work/data" --out "$work/killed" --epochs 200 --batch-size 8 "${flags[@]}" >"$work/killed.0.log" 2>&1
 echo $? >"$work/killed.0.rc") &
pids=($!)
MASTER_ADDR=127.0.0.1 MASTER_PORT=$p WORLD_SIZE=2 RANK=1 \
  "$train" "$work/data" --out "$work/killed" --epochs 200 --batch-size 8 "${flags[@]}" >"$work/killed.1.log" 2>&1 &
rank1=$!
pids+=($rank1)
until grep -q '^ *1 ' "$work/killed.0.log" 2>/dev/null; do
  [[ -e "$work/killed.0.rc" ]] && fail "rank 0 ended before its first epoch"
  sleep 0.2
done
kill -9 "$rank1"
wait "${pids[0]}"
rc=$(cat "$work/killed.0.rc")
[[ $rc == 1 ]] || fail "rank 0 exited $rc after rank 1 was killed (124 = hung)"
grep -q "did another rank die or stall" "$work/killed.0.log" || fail "rank 0 does not say why it stopped"
echo "ok: a killed catdog-train rank fails the other: $(grep -o 'rank 0 of 2: [^(]*' "$work/killed.0.log" | head -1)"
