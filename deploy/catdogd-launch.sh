# Sourced by deploy/demo.sh, the end-to-end tests and bench/run.sh: starts a
# server in the background and waits, on a pipe rather than a timer, until it
# prints the line "NAME listening on HOST:PORT" (catdogd does, and so does the
# Python comparison server).
#
#   source deploy/catdogd-launch.sh
#   catdogd_start WORK_DIR LOG_FILE COMMAND [ARGS...]
#
# Sets CATDOG_PID and exports CATDOG_SERVER (host:port). The server's other
# output goes to LOG_FILE. Returns 1 if it did not start within 120 s.
catdogd_start() {
  local work="$1" log="$2"
  shift 2
  local fifo line fd
  fifo="$(mktemp -u "$work/server_out_XXXXXX")"
  mkfifo "$fifo"
  "$@" >"$fifo" 2>>"$log" &
  CATDOG_PID=$!
  exec {fd}<"$fifo"
  CATDOG_SERVER=""
  while IFS= read -r -t 120 line <&"$fd"; do
    if [[ "$line" =~ ^[a-z-]+\ listening\ on\ ([^ ]+)$ ]]; then
      CATDOG_SERVER="${BASH_REMATCH[1]}"
      break
    fi
    echo "$line" >>"$log"
  done
  [[ -n "$CATDOG_SERVER" ]] || return 1
  export CATDOG_SERVER
  # Keep draining, so later output never blocks the server on a full pipe.
  cat <&"$fd" >>"$log" &
}
