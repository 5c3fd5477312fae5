#!/usr/bin/env bash
# The ecosystem end to end, with the real binaries and Debian's python3-torch:
# a notebook's torch.save(model.state_dict()) goes into catdogd with
# `catdogctl import --promote`, is served (also to a stock Open Inference
# Protocol client), comes back out with `catdogctl export`, and loads strictly
# in the notebook with the same outputs. Skips (77) without python3-torch,
# python3-grpcio or grpc_python_plugin.
#
#   interop_test.sh BUILD_DIR
set -euo pipefail
build="$1"
here="$(cd "$(dirname "$0")" && pwd)"
py=/usr/bin/python3
"$py" -c 'import torch, grpc' 2>/dev/null && command -v grpc_python_plugin >/dev/null \
  || { echo "no python3-torch, python3-grpcio or grpc_python_plugin: skipped"; exit 77; }
ctl="$build/client/catdogctl"
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_interop_XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "INTEROP FAIL: $*" >&2; exit 1; }

mkdir -p "$work/data"
source "$here/../../deploy/catdogd-launch.sh"
catdogd_start "$work" "$work/server.log" "$build/server/catdogd" --listen 127.0.0.1:0 --data-root "$work/data" \
  --state-dir "$work/state" --threads 2 --log-level warn || fail "server did not start: $(cat "$work/server.log")"
server_pid=$CATDOG_PID

# Notebook -> catdog.
before="$("$py" "$here/notebook.py" save "$work/notebook.pth" 0.25 2 5)"
"$ctl" import "$work/notebook.pth" --classes cat,dog --image-size 64 --promote | tee "$work/import.txt"
grep -q "model: *imported:notebook" "$work/import.txt" || fail "import"
"$ctl" serving | grep -q "imported:notebook" || fail "not served"
"$build/tests/catdog-make-dataset" "$work/images" 2 64 >/dev/null
[[ "$("$ctl" classify "$work/images" | wc -l)" == 4 ]] || fail "classify"
"$ctl" models | grep -q "^imported:notebook" || fail "models"

# A stock Open Inference Protocol client, stubs generated from the proto.
mkdir -p "$work/stubs"
protoc -I "$here/../../proto" --python_out="$work/stubs" --grpc_python_out="$work/stubs" \
  --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" inference/grpc_predict_v2.proto
"$py" "$here/oip_client.py" "$work/stubs" "$CATDOG_SERVER" "$work/images" "$work/notebook.pth" 0.25 64 \
  || fail "OIP client"

# catdog -> notebook.
"$ctl" export imported:notebook --out "$work/back.pth" || fail "export"
after="$("$py" "$here/notebook.py" load "$work/back.pth" 0.25 2)"
"$py" - "$before" "$after" <<'PY' || fail "outputs differ"
import json, sys
a, b = (json.loads(s) for s in sys.argv[1:3])
diff = max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))
print(f"notebook -> catdog -> notebook: max logit difference {diff:.3g}")
sys.exit(0 if diff <= 1e-5 else 1)
PY

# Refusals are one clear line and a non-zero exit.
set +e
"$ctl" import "$work/notebook.pth" --classes cat,dog 2>"$work/err"; rc=$?
[[ $rc == 1 ]] && grep -q ALREADY_EXISTS "$work/err" || fail "duplicate import: rc=$rc $(cat "$work/err")"
head -c 5000 /dev/urandom >"$work/junk.pth"
"$ctl" import "$work/junk.pth" --classes cat,dog 2>"$work/err"; rc=$?
[[ $rc == 1 ]] && grep -q "not a PyTorch state-dict file" "$work/err" || fail "junk import: rc=$rc $(cat "$work/err")"
set -e

kill -TERM "$server_pid"
wait "$server_pid" || fail "catdogd exited $? after SIGTERM"
server_pid=""
echo "interop: passed"
