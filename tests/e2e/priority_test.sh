#!/usr/bin/env bash
# --serving-nice against the real catdogd: without the privilege to lower a
# nice value it refuses to start and says what is missing; with it, the
# serving threads run at the given value while a training job's threads
# (its worker, loader and intra-op team) keep the one catdogd started with.
#
#   priority_test.sh BUILD_DIR
set -euo pipefail
build="$1"
catdogd="$build/server/catdogd"
ctl="$build/client/catdogctl"
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_priority_XXXXXX")"
chmod 755 "$work"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "PRIORITY FAIL: $*" >&2; exit 1; }
start_nice=$(nice)
serving_nice=$((start_nice - 5))
(( serving_nice >= -20 )) || { echo "SKIP: already at nice $start_nice"; exit 77; }
# "TID NICE" for each of the server's threads, one per line.
thread_nices() {
  local stat
  for stat in /proc/"$server_pid"/task/*/stat; do
    sed -E 's/^([0-9]+) .*\) /\1 /' "$stat" 2>/dev/null | awk '{ print $1, $18 }'
  done
}
# How many threads run at nice $1.
count() { awk -v n="$1" '$2 == n' | wc -l; }
# Whether COMMAND... may lower a nice value (GNU nice only warns when not).
can_lower() { [[ "$("$@" nice -n -5 nice 2>/dev/null)" == "$serving_nice" ]]; }

# 1. Unprivileged: a clear start-up error, exit 1. Root drops to nobody for it.
unprivileged=()
if [[ $(id -u) == 0 ]]; then
  command -v setpriv >/dev/null && unprivileged=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
fi
if [[ $(id -u) != 0 || ${#unprivileged[@]} -gt 0 ]] && ! can_lower "${unprivileged[@]}"; then
  set +e
  out="$("${unprivileged[@]}" "$catdogd" --serving-nice "$serving_nice" --listen 127.0.0.1:0 \
    --data-root "$work" --state-dir "$work/state_unprivileged" 2>&1)"
  code=$?
  set -e
  [[ $code == 1 ]] || fail "exit code $code without the privilege: $out"
  grep -q "serving-nice $serving_nice: nice $serving_nice needs CAP_SYS_NICE or RLIMIT_NICE" <<<"$out" ||
    fail "no clear error: $out"
  echo "unprivileged: refused as expected"
else
  echo "skipped the unprivileged case (no setpriv, or the privilege cannot be dropped)"
fi

# 2. Privileged: serving threads at the new value, training at the old one.
if ! can_lower; then
  echo "SKIP: this process may not lower nice values (CAP_SYS_NICE or RLIMIT_NICE)"
  exit 77
fi
"$build/tests/catdog-make-dataset" "$work/data/synth" 24 32 >/dev/null
source "$(dirname "$0")/../../deploy/catdogd-launch.sh"
catdogd_start "$work" "$work/server.log" "$catdogd" --listen 127.0.0.1:0 --data-root "$work/data" \
  --state-dir "$work/state" --threads 2 --log-level warn --serving-nice "$serving_nice" ||
  fail "server did not start: $(cat "$work/server.log")"
server_pid=$CATDOG_PID
before="$(thread_nices)"
(( $(count "$serving_nice" <<<"$before") > 0 )) || fail "no thread at $serving_nice: $before"
job="$("$ctl" start-training synth --image-size 32 --width 0.125 --batch-size 8 --epochs 1000 \
  --early-stop-patience 1000 --no-promote)"
# Once an epoch is reported, the job's loader and intra-op threads exist.
grep -m1 -q train_images_per_second < <("$ctl" --json watch "$job") || fail "no epoch reported"
during="$(thread_nices)"
"$ctl" cancel "$job" >/dev/null
echo "threads at $serving_nice / $start_nice: before the job $(count "$serving_nice" <<<"$before") / \
$(count "$start_nice" <<<"$before"), while it trains $(count "$serving_nice" <<<"$during") / $(count "$start_nice" <<<"$during")"
(( $(count "$start_nice" <<<"$during") > $(count "$start_nice" <<<"$before") )) ||
  fail "the job's threads are not at $start_nice"
# gRPC grows and shrinks its thread pool, so compare thread by thread: each
# serving thread that still exists is still at the serving value.
moved="$(awk -v n="$serving_nice" 'NR == FNR { if ($2 == n) serving[$1] = 1; next }
  ($1 in serving) && $2 != n' <(echo "$before") <(echo "$during"))"
[[ -z "$moved" ]] || fail "serving threads left $serving_nice (TID NICE): $moved"
kill -TERM "$server_pid"
wait "$server_pid" || fail "exit code $? after SIGTERM"
server_pid=""
echo "PRIORITY OK"
