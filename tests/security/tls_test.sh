#!/usr/bin/env bash
# Security with the real binaries: TLS and mutual TLS with keys made here by
# the openssl CLI, certificate rotation without a restart, tokens on the
# command line (exit code 4 when refused), SIGHUP reloading the tokens file,
# and a non-loopback address refused without TLS and tokens.
#
#   tls_test.sh BUILD_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
catdogd="$build/server/catdogd"
ctl="$build/client/catdogctl"
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_tls_XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "TLS FAIL: $*" >&2; [[ -f "$work/server.log" ]] && tail -20 "$work/server.log" >&2; exit 1; }
command -v openssl >/dev/null || fail "openssl not installed (deploy/install-deps.sh)"
cd "$work"

# --- keys and certificates -------------------------------------------------
new_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.pem" \
    -days 2 -subj "/CN=$1" 2>/dev/null
}
new_cert() {  # NAME CA USAGE
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" \
    -subj "/CN=$1" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" -days 2 \
    -extfile "$1.ext" 2>/dev/null
}
new_ca ca1
new_ca ca2
new_cert server1 ca1 serverAuth
new_cert server2 ca2 serverAuth
new_cert client ca1 clientAuth
new_cert stranger ca2 clientAuth
cp server1.pem server.pem
cp server1.key server.key

# --- tokens ------------------------------------------------------------------
"$ctl" token --name root --scopes admin --append tokens >root.token 2>/dev/null
"$ctl" token --name viewer --scopes inference --append tokens >viewer.token 2>/dev/null
[[ "$(stat -c %a tokens)" == 600 ]] || fail "the tokens file is not 0600"
grep -q "$(cat root.token)" tokens && fail "the tokens file holds a token in clear"
mkdir data

source "$here/../../deploy/catdogd-launch.sh"
catdogd_start "$work" "$work/server.log" "$catdogd" --listen 127.0.0.1:0 --data-root data --state-dir state \
  --threads 1 --tls-cert server.pem --tls-key server.key --tls-client-ca ca1.pem --tokens-file tokens \
  --tls-reload-interval-s 1 || fail "server did not start"
server_pid=$CATDOG_PID
grep -q "mutual TLS, tokens required" server.log || fail "the log does not say how the server is protected"
export CATDOG_CLIENT_TLS_CERT=client.pem CATDOG_CLIENT_TLS_KEY=client.key

# rc EXPECTED COMMAND...: runs a catdogctl command, checks its exit code.
rc() {
  local want="$1" got=0
  shift
  "$@" >out.txt 2>err.txt || got=$?
  [[ $got == "$want" ]] || fail "'$*' exited $got, expected $want: $(cat err.txt)"
}

# --- TLS ---------------------------------------------------------------------
rc 0 "$ctl" --tls-ca ca1.pem --token-file root.token jobs
rc 3 "$ctl" --token-file root.token jobs                                      # plaintext to a TLS port
rc 3 "$ctl" --tls-ca ca2.pem --token-file root.token jobs                     # a server it does not trust
rc 3 env -u CATDOG_CLIENT_TLS_CERT -u CATDOG_CLIENT_TLS_KEY "$ctl" --tls-ca ca1.pem --token-file root.token jobs  # no client cert
rc 3 "$ctl" --tls-ca ca1.pem --tls-cert stranger.pem --tls-key stranger.key --token-file root.token jobs
# Health needs TLS but no token: probes work, also under another name.
rc 0 "$ctl" --tls-ca ca1.pem health
rc 0 "$ctl" --tls-ca ca1.pem --tls-server-name localhost health
rc 3 "$ctl" --tls-ca ca1.pem --tls-server-name elsewhere.example health

# --- tokens ------------------------------------------------------------------
rc 4 "$ctl" --tls-ca ca1.pem jobs
grep -q UNAUTHENTICATED err.txt || fail "no token: $(cat err.txt)"
rc 4 "$ctl" --tls-ca ca1.pem --token "catdog_$(printf '0%.0s' {1..64})" jobs
rc 4 "$ctl" --tls-ca ca1.pem --token-file viewer.token start-training pets
grep -q "PERMISSION_DENIED.*needs train" err.txt || fail "wrong scope: $(cat err.txt)"
CATDOG_TOKEN="$(cat viewer.token)" rc 0 "$ctl" --tls-ca ca1.pem stats
grep -q "$(cat root.token)" server.log && fail "a token was logged"

# SIGHUP reads the tokens file again.
"$ctl" token --name late --scopes train --append tokens >late.token 2>/dev/null
rc 4 "$ctl" --tls-ca ca1.pem --token-file late.token jobs
kill -HUP "$server_pid"
for _ in $(seq 100); do
  "$ctl" --tls-ca ca1.pem --token-file late.token jobs >/dev/null 2>&1 && break
  read -r -t 0.1 <> <(:) || true
done
rc 0 "$ctl" --tls-ca ca1.pem --token-file late.token jobs
grep -q "tokens file read again" server.log || fail "SIGHUP not logged"

# --- certificate rotation without a restart -----------------------------------
cp server2.key server.key.new && cp server2.pem server.pem.new
mv server.key.new server.key && mv server.pem.new server.pem
for _ in $(seq 100); do
  "$ctl" --tls-ca ca2.pem --token-file root.token jobs >/dev/null 2>&1 && break
  read -r -t 0.1 <> <(:) || true
done
rc 0 "$ctl" --tls-ca ca2.pem --token-file root.token jobs
rc 3 "$ctl" --tls-ca ca1.pem --token-file root.token jobs                     # the old certificate is gone
kill -TERM "$server_pid"
wait "$server_pid" || fail "catdogd did not exit 0 on SIGTERM"
server_pid=""

# --- addresses other machines reach --------------------------------------------
code=0
"$catdogd" --listen 0.0.0.0:0 --data-root data --state-dir state2 >refused.txt 2>&1 || code=$?
[[ $code == 1 ]] || fail "a non-loopback plaintext listen exited $code"
grep -q -- "--insecure" refused.txt || fail "the refusal does not say how: $(cat refused.txt)"
catdogd_start "$work" "$work/insecure.log" "$catdogd" --listen 0.0.0.0:0 --data-root data --state-dir state3 \
  --threads 1 --insecure || fail "--insecure did not start"
server_pid=$CATDOG_PID
grep -q "insecure.*reachable from other machines" insecure.log || fail "--insecure is not warned about"
kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=""
echo "TLS OK: TLS, mutual TLS, rotation, tokens, SIGHUP reload, non-loopback refusal"
