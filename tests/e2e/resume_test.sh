#!/usr/bin/env bash
# Resume with the real binaries: a job killed with catdogd (kill -9) inside
# an epoch, then resumed on a restarted server, must record the same epochs
# as an uninterrupted job with the same seed (one thread: identical losses),
# both from last.ckpt (epoch boundary) and from a mid-epoch partial.ckpt.
#
#   resume_test.sh BUILD_DIR
set -euo pipefail
build="$1"
catdogd="$build/server/catdogd"
ctl="$build/client/catdogctl"
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_resume_XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "RESUME FAIL: $*" >&2; exit 1; }

# 24 batches an epoch: the kill at batch 5 of epoch 3 lands well before its end
# even on a loaded machine.
"$build/tests/catdog-make-dataset" "$work/data/synth" 120 32 >/dev/null
source "$(dirname "$0")/../../deploy/catdogd-launch.sh"
start_server() {
  catdogd_start "$work" "$work/server.log" "$catdogd" --listen 127.0.0.1:0 --data-root "$work/data" \
    --state-dir "$work/state" --threads 1 --log-level warn || fail "server did not start: $(cat "$work/server.log")"
  server_pid=$CATDOG_PID
}
# Epoch rows of a job's history, without the timings.
epochs() {
  "$ctl" --json watch "$1" | sed -nE 's/.*"epoch":\{("epoch":[0-9]+,"train_loss":[^,]*,"valid_loss":[^,]*,"valid_accuracy":[^,]*,"learning_rate":[^,]*,"early_stop_trigger":[0-9]+).*/\1/p'
}
# Follows a job's live events until one matches $2, then returns (the watch
# ends with the pipe).
wait_for_event() {
  "$ctl" --json watch "$1" | grep -m1 -qE "$2" || true
}
flags=(--image-size 32 --width 0.125 --batch-size 8 --epochs 4 --lr 0.003 --lr-patience 0
       --threads 1 --progress-interval 1 --no-promote)

start_server
reference="$("$ctl" start-training synth "${flags[@]}")"
"$ctl" watch "$reference" >/dev/null || fail "the reference job did not succeed"
epochs "$reference" >"$work/reference.txt"
[[ "$(wc -l <"$work/reference.txt")" == 4 ]] || fail "reference: $(cat "$work/reference.txt")"

for mode in epoch mid-epoch; do
  if [[ $mode == epoch ]]; then
    job="$("$ctl" start-training synth "${flags[@]}")"
  else
    job="$("$ctl" start-training synth "${flags[@]}" --checkpoint-interval-min 0.000001)"
  fi
  # Killed inside epoch 3: after epoch 2's row, while batch 5 of 24 trains.
  wait_for_event "$job" '"progress":\{"epoch":3,"batches_done":5,'
  kill -KILL "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  start_server
  "$ctl" status "$job" | grep -q "state: *INTERRUPTED" || fail "$mode: not INTERRUPTED after kill -9"
  if [[ $mode == epoch ]]; then
    [[ ! -e "$work/state/jobs/$job/partial.ckpt" ]] || fail "partial.ckpt without --checkpoint-interval-min"
  else
    [[ -e "$work/state/jobs/$job/partial.ckpt" ]] || fail "no partial.ckpt"
  fi
  out="$("$ctl" resume "$job" --watch)" || fail "$mode: the resumed job did not succeed: $out"
  echo "$out" | grep -q "queued to continue after epoch 2" || fail "$mode: $out"
  epochs "$job" >"$work/$job.txt"
  diff "$work/reference.txt" "$work/$job.txt" || fail "$mode: resumed epochs differ from the uninterrupted run"
  [[ ! -e "$work/state/jobs/$job/partial.ckpt" ]] || fail "$mode: partial.ckpt left after the job"
  echo "resume after kill -9 ($mode): 4 epochs equal to the uninterrupted run"
done

set +e
"$ctl" resume "$reference" 2>"$work/err"; rc=$?
set -e
[[ $rc == 1 ]] && grep -q "FAILED_PRECONDITION" "$work/err" || fail "resuming a SUCCEEDED job: rc=$rc $(cat "$work/err")"
echo "resume: passed"
