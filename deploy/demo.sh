#!/usr/bin/env bash
# The README's main command: installs dependencies, builds, starts catdogd,
# runs a short training job with a live watch, classifies a few images,
# evaluates the served model on the test set (the mistakes grid and the
# curves go to the work folder it names), shows the stats, then stops the
# server with SIGTERM.
#
#   deploy/demo.sh [PHOTOS_DIR]
#
# PHOTOS_DIR holds train/{cat,dog} and test/{cat,dog} (e.g. ../shared/data/catdog);
# without it a small synthetic dataset is generated. Environment overrides
# (real photos / synthetic): EPOCHS (3 / 6), IMAGE_SIZE (64 / 32), WIDTH
# (0.25 / 0.125; 1.0 = the reference VGG16), LR (1e-4, the reference / 3e-3),
# THREADS (all cores), STATE_DIR (a temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
./deploy/build.sh >/dev/null
build="${BUILD_DIR:-build}"
ctl="$build/client/catdogctl"

work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_demo_XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then kill -TERM "$server_pid"; wait "$server_pid" || true; fi
}
trap cleanup EXIT

if [[ -n "${1:-}" ]]; then
  data_root="$(realpath "$1")"
  [[ -d "$data_root/train" && -d "$data_root/test" ]] || { echo "$1 needs train/ and test/ ImageFolders" >&2; exit 2; }
  defaults=(3 64 0.25 0.0001)
else
  data_root="$work/data"
  "$build/tests/catdog-make-dataset" "$data_root/train" 60 40
  "$build/tests/catdog-make-dataset" "$data_root/test" 15 40 7
  defaults=(6 32 0.125 0.003)
fi
state_dir="${STATE_DIR:-$work/state}"

echo "== starting catdogd (data root $data_root, state dir $state_dir)"
source deploy/catdogd-launch.sh
catdogd_start "$work" "$work/server.log" "$build/server/catdogd" --listen 127.0.0.1:0 \
  --data-root "$data_root" --state-dir "$state_dir" --threads "${THREADS:-0}" \
  || { echo "catdogd did not start: $(cat "$work/server.log")" >&2; exit 1; }
server_pid=$CATDOG_PID
echo "   catdogd listening on $CATDOG_SERVER"
"$ctl" health

echo "== training (live watch)"
"$ctl" start-training train --test-root test --image-size "${IMAGE_SIZE:-${defaults[1]}}" \
  --width "${WIDTH:-${defaults[2]}}" --epochs "${EPOCHS:-${defaults[0]}}" --lr "${LR:-${defaults[3]}}" --watch

echo "== checkpoints"
"$ctl" models
echo "== classifying 4 test images per class"
"$ctl" classify $(find "$data_root/test/cat" -type f | sort | head -n 4) $(find "$data_root/test/dog" -type f | sort | head -n 4)
echo "== evaluation of the served model on the test set (and its curves)"
"$ctl" evaluate "$("$ctl" --json serving | sed -nE 's/.*"id":"([^"]+)".*/\1/p')" test --mistakes 4 \
  --grid "$work/mistakes.png"
"$ctl" curves "$("$ctl" --json jobs | head -n1 | sed -nE 's/.*"id":"([^"]+)".*/\1/p')" --out "$work/curves.png"
echo "== server stats"
"$ctl" stats

echo "== stopping catdogd (SIGTERM)"
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=""
echo "catdogd exited cleanly; server log: $work/server.log"
