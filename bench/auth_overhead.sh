#!/usr/bin/env bash
# What tokens and TLS cost on the Classify path: catdogctl bench against
# plaintext without tokens, plaintext with tokens, and TLS with tokens, one
# server per mode in turn, ROUNDS rounds (3) of DURATION seconds (8) with 1
# and 8 callers. Prints one JSON line per measurement.
#
#   bench/auth_overhead.sh [BUILD_DIR]
set -euo pipefail
build="$(cd "${1:-build}" && pwd)"
src="$(cd "$(dirname "$0")/.." && pwd)"
ctl=$build/client/catdogctl
d=$build/server/catdogd
rounds="${ROUNDS:-3}"
duration="${DURATION:-8}"
w=$(mktemp -d "${TMPDIR:-/tmp}/catdog_authbench_XXXXXX")
cleanup() {
  if [[ -n "${CATDOG_PID:-}" ]] && kill -0 "$CATDOG_PID" 2>/dev/null; then kill -KILL "$CATDOG_PID"; fi
  rm -rf "$w"
}
trap cleanup EXIT
cd "$w"
$build/tests/catdog-make-dataset data/synth 40 64 >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout s.key -out s.csr -subj /CN=s 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > s.ext
openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out s.pem -days 2 -extfile s.ext 2>/dev/null
$ctl token --name b --scopes admin --append tokens > b.token 2>/dev/null
# one model for all: trained once, copied as a file
source "$src/deploy/catdogd-launch.sh"
catdogd_start "$w" "$w/train.log" $d --listen 127.0.0.1:0 --data-root data --state-dir st0 --threads 2
$ctl start-training synth --image-size 64 --width 0.25 --epochs 1 --threads 2 --watch >/dev/null
cp st0/jobs/job-1/best.ckpt model.ckpt; kill -TERM $CATDOG_PID; wait $CATDOG_PID || true
echo "git $(cd "$src" && git rev-parse --short HEAD); $(nproc) cores; model width 0.25 at 64 px; catdogctl bench -d $duration on the 80 synthetic 64 px PNGs"
for round in $(seq "$rounds"); do
  for mode in plain tokens tls; do
    extra=(); cli=()
    [[ $mode != plain ]] && extra+=(--tokens-file tokens) && cli+=(--token-file b.token)
    [[ $mode == tls ]] && extra+=(--tls-cert s.pem --tls-key s.key) && cli+=(--tls-ca ca.pem)
    catdogd_start "$w" "$w/$mode.log" $d --listen 127.0.0.1:0 --data-root data --state-dir st_$mode --threads 2 \
      --serve-checkpoint model.ckpt "${extra[@]}"
    for c in 1 8; do
      r=$($ctl "${cli[@]}" --json bench data/synth -c $c -d "$duration")
      echo "round $round $mode c=$c $r"
    done
    kill -TERM $CATDOG_PID; wait $CATDOG_PID || true
  done
done
