#!/usr/bin/env bash
# End-to-end: the real catdogd and catdogctl binaries over loopback. Starts
# the server on an OS-chosen port, trains a tiny job with a live watch,
# classifies, evaluates, draws its curves, reads stats and models, checks
# error exit codes, then SIGTERM
# and a clean exit 0; then catdog-train against a full disk.
#
#   e2e_test.sh BUILD_DIR
set -euo pipefail
build="$1"
catdogd="$build/server/catdogd"
ctl="$build/client/catdogctl"
make_dataset="$build/tests/catdog-make-dataset"
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_e2e_XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "E2E FAIL: $*" >&2; exit 1; }

"$make_dataset" "$work/data/synth" 40 32 >/dev/null
"$make_dataset" "$work/data/synth_test" 8 32 7 >/dev/null

source "$(dirname "$0")/../../deploy/catdogd-launch.sh"
catdogd_start "$work" "$work/server.log" "$catdogd" --listen 127.0.0.1:0 --data-root "$work/data" \
  --state-dir "$work/state" --threads 2 --log-level warn || fail "server did not start: $(cat "$work/server.log")"
server_pid=$CATDOG_PID
addr=$CATDOG_SERVER
echo "server at $addr"

"$ctl" health | grep -qx SERVING || fail "health"
"$ctl" --help | grep -q start-training || fail "help"

out="$("$ctl" start-training synth --test-root synth_test --image-size 32 --width 0.125 \
  --batch-size 8 --epochs 6 --lr 0.003 --watch)" || fail "training did not succeed: $out"
echo "$out"
job="$(echo "$out" | head -n1)"
echo "$out" | grep -q "SUCCEEDED" || fail "no SUCCEEDED line"
[[ "$(echo "$out" | grep -cE '^ +[0-9]+ +[0-9.]+ ')" == 6 ]] || fail "expected 6 epoch rows"
echo "$out" | grep -q "test (best weights)" || fail "no test evaluation"

"$ctl" status "$job" | grep -q "state: *SUCCEEDED" || fail "status"
"$ctl" jobs | grep -q "$job" || fail "jobs"
"$ctl" --json jobs --state SUCCEEDED | grep -q "\"id\":\"$job\"" || fail "jobs --json"
"$ctl" models | grep -q "$job/best" || fail "models"
"$ctl" serving | grep -q "$job/best" || fail "serving"

cls="$("$ctl" classify "$work/data/synth_test")"
echo "$cls" | head -n 4
[[ "$(echo "$cls" | wc -l)" == 16 ]] || fail "expected 16 classified images"
right="$(echo "$cls" | awk -F'\t' '{ n = split($1, p, "/"); if (p[n-1] == $2) c++ } END { print c + 0 }')"
(( right >= 12 )) || fail "only $right of 16 right"

"$ctl" stats | grep -q "images classified: 16" || fail "stats"

# Evaluation a person reads, and the curves as a picture.
"$ctl" evaluate "$job/best" synth_test --grid "$work/mistakes.png" >"$work/eval.txt" || fail "evaluate"
grep -q "^$job/best on synth_test: 16 images" "$work/eval.txt" || fail "evaluate: $(cat "$work/eval.txt")"
grep -q "^confusion (rows: true class" "$work/eval.txt" || fail "evaluate: no confusion matrix"
grep -qE "^cat +[0-9.]+ +[0-9.]+ +[0-9.]+ +8$" "$work/eval.txt" || fail "evaluate: no per-class row"
"$ctl" --json evaluate "$job/best" synth_test | tail -n1 | grep -q '"count":16' || fail "evaluate --json"
"$ctl" curves "$job" --out "$work/curves.png" | grep -q "6 epochs" || fail "curves"
[[ -s "$work/curves.png" ]] || fail "no curves written"
"$ctl" --json preview "$work/data/synth" --out "$work/grid.png" | grep -qx "{\"wrote\":\"$work/grid.png\"}" \
  || fail "preview --json"
[[ -s "$work/grid.png" ]] || fail "no grid written"

# JSON Lines, numbers as numbers, global flags after the verb too.
"$ctl" models --json | grep -q '"epoch":[0-9]' || fail "models --json (flag after the verb)"
lines="$("$ctl" --json start-training synth --image-size 32 --width 0.125 --batch-size 8 --epochs 1 --no-promote \
  --watch)" || fail "--json start-training --watch"
first="${lines%%$'\n'*}"
grep -qE '^\{"id":"job-[0-9]+","state":"QUEUED"' <<<"$first" || fail "--json start-training --watch: $first"
"$ctl" --version | grep -qE '^catdogctl [0-9]+\.[0-9]+\.[0-9]+$' || fail "catdogctl --version"
"$catdogd" --version | grep -qE '^catdogd [0-9]+\.[0-9]+\.[0-9]+$' || fail "catdogd --version"
(cd "$work" && "$make_dataset" --help | grep -q usage && [[ ! -e "$work/--help" ]]) || fail "catdog-make-dataset --help"

# Errors: one clear line on stderr, non-zero exit.
set +e
"$ctl" status job-999 2>"$work/err"; rc=$?
[[ $rc == 1 ]] && grep -q "NOT_FOUND" "$work/err" || fail "unknown job: rc=$rc $(cat "$work/err")"
"$ctl" start-training ../../etc 2>"$work/err"; rc=$?
[[ $rc == 4 ]] && grep -q "PERMISSION_DENIED" "$work/err" || fail "outside data root: rc=$rc"
"$ctl" --server 127.0.0.1:1 --timeout 2 jobs 2>"$work/err"; rc=$?
[[ $rc == 3 ]] || fail "unreachable server should exit 3, got $rc"
"$ctl" start-training 2>/dev/null; rc=$?
[[ $rc == 2 ]] || fail "missing argument should exit 2, got $rc"
set -e

kill -TERM "$server_pid"
wait "$server_pid" || fail "catdogd exited $? after SIGTERM"
server_pid=""

# A full disk while a checkpoint is written: writes past `ulimit -f` fail the
# way they do on a full disk (SIGXFSZ ignored). The trainer must exit 1 with
# the error, not abort, and leave no temporary file.
set +e
bash -c "trap '' XFSZ; ulimit -f 100; exec \"$build/tools/catdog-train\" \"$work/data/synth\" \
  --out \"$work/full_disk\" --image-size 32 --width 0.125 --batch-size 8 --epochs 1 --threads 1" \
  >"$work/full_disk.log" 2>&1; rc=$?
set -e
[[ $rc == 1 ]] || fail "full disk: catdog-train exited $rc, not 1: $(tail -3 "$work/full_disk.log")"
grep -q "File too large" "$work/full_disk.log" || fail "full disk: no write error reported"
! ls "$work/full_disk" | grep -q '\.tmp\.' || fail "full disk: a temporary checkpoint was left behind"
echo "e2e: passed"
