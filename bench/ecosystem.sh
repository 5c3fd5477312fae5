#!/usr/bin/env bash
# The ecosystem figures of the README, measured on the reference model
# (full-width VGG16, 224 px): a notebook state dict -> catdogd (import,
# serve) -> notebook (export, strict load) with the largest output
# difference; the stock Open Inference Protocol client (tests/interop/
# oip_client.py) against it; a /metrics scrape while catdogctl bench loads
# the server. Needs Debian's python3-torch and python3-grpcio, and the
# photos for the load (../shared/data/catdog or $CATDOG_DATA_DIR).
#
#   bench/ecosystem.sh [BUILD_DIR] > bench/results/ecosystem_DATE.txt
set -euo pipefail
build="$(cd "${1:-build}" && pwd)"
src="$(cd "$(dirname "$0")/.." && pwd)"
photos="${CATDOG_DATA_DIR:-$src/../shared/data/catdog}"
ctl=$build/client/catdogctl
py=/usr/bin/python3
w=$(mktemp -d "${TMPDIR:-/tmp}/catdog_ecosystem_XXXXXX")
cleanup() {
  if [[ -n "${CATDOG_PID:-}" ]] && kill -0 "$CATDOG_PID" 2>/dev/null; then kill -KILL "$CATDOG_PID"; fi
  rm -rf "$w"
}
trap cleanup EXIT

echo "# $(date -u +%FT%TZ) $(git -C "$src" rev-parse --short HEAD) $(nproc) cores"
source "$src/deploy/catdogd-launch.sh"
catdogd_start "$w" "$w/server.log" "$build/server/catdogd" --listen 127.0.0.1:0 --data-root "$photos" \
  --state-dir "$w/state" --threads "$(nproc)" --metrics-listen 127.0.0.1:0
metrics="$(grep -o 'metrics on http://[^ ]*' "$w/server.log" | head -n1 | cut -d' ' -f3)"

echo "## notebook -> catdog -> notebook (VGG16 width 1.0, 2 classes)"
before="$("$py" "$src/tests/interop/notebook.py" save "$w/notebook.pth" 1.0 2 1)"
ls -l "$w/notebook.pth" | awk '{print "notebook.pth: " $5 " bytes"}'
/usr/bin/time -f "import: %e s" "$ctl" import "$w/notebook.pth" --classes cat,dog --image-size 224 --promote
/usr/bin/time -f "export: %e s" "$ctl" export imported:notebook --out "$w/back.pth"
after="$("$py" "$src/tests/interop/notebook.py" load "$w/back.pth" 1.0 2)"
"$py" - "$before" "$after" <<'PY'
import json, sys
a, b = (json.loads(s) for s in sys.argv[1:3])
print("logits before:", a)
print("logits after: ", b)
print("max difference:", max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb)))
PY

echo "## Open Inference Protocol client"
mkdir -p "$w/stubs" "$w/images/cat" "$w/images/dog"
cp "$(ls "$photos"/test/cat/* | head -n2 | tail -n1)" "$w/images/cat/"
cp "$(ls "$photos"/test/dog/* | head -n1)" "$w/images/dog/"
protoc -I "$src/proto" --python_out="$w/stubs" --grpc_python_out="$w/stubs" \
  --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" inference/grpc_predict_v2.proto
"$py" "$src/tests/interop/oip_client.py" "$w/stubs" "$CATDOG_SERVER" "$w/images" "$w/notebook.pth" 1.0 224

echo "## /metrics under load (catdogctl bench -c 8 -d 20 on the test photos)"
"$ctl" bench "$photos/test" -c 8 -d 20 >"$w/bench.txt" &
bench_pid=$!
for _ in $(seq 100); do  # until the first forward passes are counted
  curl -s "$metrics" | grep -q '^catdog_inference_batch_size_count [1-9]' && break
  read -r -t 0.2 <> <(:) || true
done
read -r -t 8 <> <(:) || true  # well into the run
curl -s "$metrics" | grep -E '^catdog_(inference|model|process)' | grep -vE '_bucket\{.*le="(0\.0|[2-9]|1[0-9])' | head -n 60
wait "$bench_pid"
cat "$w/bench.txt"
kill -TERM "$CATDOG_PID"
wait "$CATDOG_PID" || true
