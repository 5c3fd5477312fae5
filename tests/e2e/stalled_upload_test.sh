#!/usr/bin/env bash
# Stalled uploads against the real catdogd: clients that announce a 60 MB
# Classify request, send 55 MB and stop. A caller's deadline ends its stalled
# upload on time, and so does the server's --upload-timeout-s for a caller
# without one; past --max-receive-buffer-mb gRPC resets the newest uploads
# instead of holding them; the server answers meanwhile; and once the clients
# are gone its resident memory is back within 10% of its idle size.
#
#   stalled_upload_test.sh BUILD_DIR
set -euo pipefail
build="$1"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_stall_XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "STALL FAIL: $*" >&2; exit 1; }
py=/usr/bin/python3
stall() { "$py" "$here/stalled_upload.py" "$CATDOG_SERVER" "$@"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status"; }
field() { "$py" -c 'import json,sys; print(json.loads(sys.stdin.readlines()[-1])[sys.argv[1]])' "$1"; }

mkdir -p "$work/data" "$work/state"
source "$here/../../deploy/catdogd-launch.sh"
start_server() {
  catdogd_start "$work" "$work/server.log" "$build/server/catdogd" --listen 127.0.0.1:0 --data-root "$work/data" \
    --state-dir "$work/state" --threads 2 --log-level warn --max-receive-buffer-mb 128 "$@" ||
    fail "server did not start: $(cat "$work/server.log")"
  server_pid=$CATDOG_PID
}
ended_within() {  # ENDED_JSON_LIST LOW HIGH
  "$py" -c "import sys; t = float(sys.argv[1].strip('[]')); sys.exit(not float(sys.argv[2]) <= t <= float(sys.argv[3]))" "$@"
}

# 0. Without a deadline, the server's upload timeout ends a stalled upload.
start_server --upload-timeout-s 2
out="$(stall --hold 20)"
ended="$(echo "$out" | field ended_after_s)"
echo "$out" | tail -1 | grep -q "upload-timeout-s" || fail "upload timeout: $out"
ended_within "$ended" 1.9 6 || fail "the stalled upload without a deadline ended after $ended s, not 2"
echo "stalled upload without a deadline, --upload-timeout-s 2: ended after $ended s (DEADLINE_EXCEEDED)"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true

start_server --upload-timeout-s 0
idle=$(rss_kb)
echo "idle RSS: $((idle / 1024)) MiB"

# 1. A stalled upload whose caller set a 1 s deadline ends after 1 s.
out="$(stall --timeout-ms 1000 --hold 10)"
ended="$(echo "$out" | field ended_after_s)"
echo "$out" | tail -1 | grep -q "Deadline Exceeded" || fail "deadline: $out"
ended_within "$ended" 0.9 5 ||
  fail "the stalled upload with a 1 s deadline ended after $ended s"
echo "stalled upload with a 1 s deadline: ended after $ended s (DEADLINE_EXCEEDED)"

# 2. Six stalled 55 MB uploads without a deadline (and no upload timeout)
#    against a 128 MiB budget.
"$py" "$here/stalled_upload.py" "$CATDOG_SERVER" --connections 6 --hold 600 >"$work/six.out" &
stall_pid=$!
# Wait until every sender stopped (stalled or was reset).
while ! grep -q '"event": "stalled"' "$work/six.out" 2>/dev/null; do
  kill -0 "$stall_pid" 2>/dev/null || fail "the stalled clients exited early: $(cat "$work/six.out")"
  sleep 0.2
done
held=$(rss_kb)
"$build/client/catdogctl" --server "$CATDOG_SERVER" --timeout 5 health | grep -qx SERVING ||
  fail "the server did not answer while uploads were stalled"
kill "$stall_pid"
wait "$stall_pid" 2>/dev/null || true
echo "six stalled uploads: RSS $((held / 1024)) MiB while held"
(( held - idle < 256 * 1024 )) || fail "stalled uploads pinned $(( (held - idle) / 1024 )) MiB over a 128 MiB budget"

# 3. The clients are gone: memory goes back (checked every 0.2 s, 15 s at most).
for _ in $(seq 75); do
  now=$(rss_kb)
  (( now * 10 <= idle * 11 )) && break
  sleep 0.2
done
echo "after the clients left: RSS $((now / 1024)) MiB (idle $((idle / 1024)) MiB)"
(( now * 10 <= idle * 11 )) || fail "RSS stayed at $((now / 1024)) MiB, idle was $((idle / 1024)) MiB"
echo "stalled uploads: passed"
