#!/usr/bin/env bash
# Checks the deployment files without a Docker engine or a GPU:
#  - the Compose and Kubernetes YAML parses and asks for what a GPU host needs;
#  - the Dockerfile builds with the same scripts CI runs;
#  - every CATDOG_* variable the files set is a real catdogd flag;
#  - deploy/collect-runtime.sh gathers a runnable server (what the image ships);
#  - that server, configured by environment only as in the image, answers the
#    Dockerfile's own HEALTHCHECK command, then exits 0 on SIGTERM.
#
#   deploy_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src="$(cd "$1" && pwd)"
build="$(cd "$2" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_deploy_XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "DEPLOY FAIL: $*" >&2; exit 1; }
checks=0
pass() { checks=$((checks + 1)); echo "ok: $*"; }

# ---- YAML: parses, and asks for what the issue names ----
/usr/bin/python3 - "$src" <<'PY' || fail "YAML checks"
import sys, yaml, pathlib
src = pathlib.Path(sys.argv[1])
compose = yaml.safe_load((src / "deploy/docker-compose.yml").read_text())
svc = compose["services"]["catdogd"]
dev = svc["deploy"]["resources"]["reservations"]["devices"][0]
assert dev["driver"] == "nvidia" and "gpu" in dev["capabilities"] and dev["count"] == 1, dev
assert all(str(p).startswith("127.0.0.1:") for p in svc["ports"]), svc["ports"]
vols = svc["volumes"]
assert "catdog-state:/var/lib/catdog" in vols and "catdog-state" in compose["volumes"], vols
data = [v for v in vols if isinstance(v, dict) and v.get("target") == "/data"][0]
assert data["read_only"] is True, data
assert svc["restart"] in ("unless-stopped", "always"), svc["restart"]
assert svc["healthcheck"]["test"][1:2] == ["catdogctl"] and svc["healthcheck"]["test"][-1] == "health"
env = svc["environment"]
for key in ("CATDOG_TLS_CERT", "CATDOG_TLS_KEY", "CATDOG_TOKENS_FILE", "CATDOG_TLS_CA"):
    secret = env[key].removeprefix("/run/secrets/")
    assert secret in svc["secrets"] and secret in compose["secrets"], key
assert "CATDOG_INSECURE" not in env

docs = {}
for f in sorted((src / "deploy/k8s").glob("*.yaml")):
    for d in yaml.safe_load_all(f.read_text()):
        docs[(d["kind"], d["metadata"]["name"])] = d
kinds = {kind for kind, _ in docs}
assert kinds >= {"Deployment", "Service", "PersistentVolumeClaim", "ConfigMap", "Secret",
                 "HorizontalPodAutoscaler"}, kinds

def container(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]

def selects(service, deployment):
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    return all(labels.get(k) == v for k, v in service["spec"]["selector"].items())

trainer, serving = docs[("Deployment", "catdogd")], docs[("Deployment", "catdogd-serving")]
secret = docs[("Secret", "catdogd-secrets")]
for deployment, config_name in ((trainer, "catdogd"), (serving, "catdogd-serving")):
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    config = docs[("ConfigMap", config_name)]["data"]
    assert c["envFrom"][0]["configMapRef"]["name"] == config_name
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    # Exec probes through catdogctl, which speaks TLS (the kubelet's gRPC probes do not).
    for probe in ("readinessProbe", "livenessProbe"):
        cmd = c[probe]["exec"]["command"]
        assert cmd[:3] == ["catdogctl", "--server", "127.0.0.1:50051"] and "health" in cmd, probe
    assert c["readinessProbe"]["exec"]["command"][-2:] == ["--service", "catdog.v1.InferenceService"]
    assert "--service" not in c["livenessProbe"]["exec"]["command"]
    mount = [m for m in c["volumeMounts"] if m["name"] == "secrets"][0]
    assert mount["readOnly"] and [v for v in pod["volumes"] if v["name"] == "secrets"][0]["secret"]["secretName"] \
        == secret["metadata"]["name"]
    for key, item in (("CATDOG_TLS_CERT", "tls.crt"), ("CATDOG_TLS_KEY", "tls.key"), ("CATDOG_TOKENS_FILE", "tokens"),
                      ("CATDOG_TLS_CA", "ca.crt")):
        assert config[key] == mount["mountPath"] + "/" + item and item in secret["stringData"], key
    grace = float(config["CATDOG_SHUTDOWN_GRACE_S"])
    pre_stop = float(c["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > grace + pre_stop, "grace period too short to drain"
    assert all(k.startswith("CATDOG_") for k in config)
    assert "CATDOG_INSECURE" not in config

# The trainer: one writer of the state, publishing to the volume replicas read.
assert trainer["spec"]["replicas"] == 1 and trainer["spec"]["strategy"]["type"] == "Recreate"
assert "startupProbe" in container(trainer)
assert any(m["mountPath"] == "/data" and m.get("readOnly") for m in container(trainer)["volumeMounts"])
trainer_config = docs[("ConfigMap", "catdogd")]["data"]
def claim_at(deployment, path):
    c = container(deployment)
    mount = [m for m in c["volumeMounts"] if m["mountPath"] == path][0]
    volume = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]][0]
    return volume["persistentVolumeClaim"]["claimName"], mount.get("readOnly", False)
published, _ = claim_at(trainer, trainer_config["CATDOG_PUBLISH_DIR"])
assert docs[("PersistentVolumeClaim", published)]["spec"]["accessModes"] == ["ReadWriteMany"]
# Replicas: no state, the published volume read-only at --model.
serving_config = docs[("ConfigMap", "catdogd-serving")]["data"]
assert serving_config["CATDOG_SERVE_ONLY"] == "true"
assert not {"CATDOG_STATE_DIR", "CATDOG_DATA_ROOT", "CATDOG_PUBLISH_DIR"} & set(serving_config)
assert claim_at(serving, serving_config["CATDOG_MODEL"]) == (published, True)
# Services: the trainer's selects only the trainer; the replicas' is headless.
assert selects(docs[("Service", "catdogd")], trainer) and not selects(docs[("Service", "catdogd")], serving)
replicas = docs[("Service", "catdogd-serving")]
assert replicas["spec"]["clusterIP"] == "None" and selects(replicas, serving) and not selects(replicas, trainer)
for service in (docs[("Service", "catdogd")], replicas):
    assert service["spec"]["ports"][0]["port"] == 50051
assert docs[("HorizontalPodAutoscaler", "catdogd-serving")]["spec"]["scaleTargetRef"]["name"] == "catdogd-serving"
# Multi-node training: a Kubeflow PyTorchJob whose workers run catdog-train (the
# operator sets torchrun's MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK).
job = docs[("PyTorchJob", "catdog-train")]["spec"]["pytorchReplicaSpecs"]
assert set(job) == {"Master", "Worker"}, set(job)
for role, spec in job.items():
    c = spec["template"]["spec"]["containers"][0]
    assert c["name"] == "pytorch" and c["command"][0] == "catdog-train", (role, c["command"])
    assert c["command"][c["command"].index("--out") + 1].startswith("/var/lib/catdog-runs"), role
    assert c["command"][c["command"].index("--device") + 1] == "cpu", "data-parallel ranks train on the CPU"
print("yaml: compose and", len(docs), "Kubernetes objects check out")
PY
pass "compose and Kubernetes manifests"

# ---- The Dockerfile builds with CI's scripts ----
dockerfile="$src/Dockerfile"
grep -qE '^RUN deploy/install-deps.sh( |$)' "$dockerfile" || fail "Dockerfile does not run deploy/install-deps.sh"
grep -qE '^RUN deploy/install-deps.sh --no-torch' "$dockerfile" || fail "GPU stage does not use install-deps.sh"
[[ "$(grep -cE '^RUN deploy/build.sh' "$dockerfile")" == 2 ]] || fail "both stages must build with deploy/build.sh"
! grep -vE '^\s*#' "$dockerfile" | grep -qE '\b(cmake|ninja|make|g\+\+)\b' || fail "Dockerfile compiles outside deploy/build.sh"
grep -q 'deploy/install-deps.sh' "$src/deploy/test.sh" && grep -q 'deploy/build.sh' "$src/deploy/test.sh" \
  || fail "deploy/test.sh (CI) no longer uses the scripts the Dockerfile uses"
grep -q 'deploy/test.sh' "$src/.ci/run" || fail ".ci/run does not call deploy/test.sh"
grep -q 'CMD \["catdogctl", "--server", "127.0.0.1:50051", "--timeout", "4", "health"\]' "$dockerfile" \
  || fail "HEALTHCHECK is not catdogctl health"
grep -q '^USER catdog' "$dockerfile" || fail "image does not run as non-root"
grep -q '^ENTRYPOINT \["catdogd"\]' "$dockerfile" || fail "entrypoint"
for ignored in .git 'build\*/' .gpu/; do grep -qx "$ignored" "$src/.dockerignore" || fail ".dockerignore lacks $ignored"; done
pass "Dockerfile uses deploy/install-deps.sh, deploy/build.sh, deploy/collect-runtime.sh like CI"

# ---- Every CATDOG_* variable set anywhere is a catdogd or catdogctl flag ----
help="$("$build/server/catdogd" --help; "$build/client/catdogctl" --help)"
vars="$(grep -ohE 'CATDOG_[A-Z_]+' "$dockerfile" "$src/deploy/docker-compose.yml" "$src/deploy/k8s/"*.yaml \
  "$src/deploy/catdogd.service" | sort -u | grep -vE '^CATDOG_(DATA|SECRETS)$')"
for v in $vars; do
  grep -q "Env:$v)" <<<"$help" || fail "$v is set by a deployment file but neither program has such a flag"
done
pass "$(wc -w <<<"$vars") CATDOG_* variables all exist in catdogd or catdogctl --help"

# ---- The runtime folder the image ships ----
"$src/deploy/collect-runtime.sh" "$build" "$work/opt" >/dev/null
outside="$(LD_LIBRARY_PATH="$work/opt/lib" ldd "$work/opt/bin/catdogd" "$work/opt/bin/catdogctl" "$work/opt/bin/catdog-train" \
  | awk '/=> \//{print $3}' | grep -v "^$work/opt/lib/" \
  | grep -vE '/(libc|libm|libdl|librt|libpthread|libresolv|libstdc\+\+|libgcc_s)\.so' || true)"
[[ -z "$outside" ]] || fail "collected binaries still load from the system: $outside"
LD_LIBRARY_PATH="$work/opt/lib" "$work/opt/bin/catdogctl" --help >/dev/null || fail "collected catdogctl"
LD_LIBRARY_PATH="$work/opt/lib" "$work/opt/bin/catdog-train" --help >/dev/null || fail "collected catdog-train"
pass "collect-runtime.sh: binaries load only collected libraries (plus the C/C++ runtime)"

# ---- Environment-only configuration, as in the image, and its HEALTHCHECK ----
mkdir -p "$work/data" "$work/state"
source "$src/deploy/catdogd-launch.sh"
catdogd_start "$work" "$work/server.log" env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH="$work/opt/lib" \
  CATDOG_LISTEN=127.0.0.1:0 CATDOG_DATA_ROOT="$work/data" CATDOG_STATE_DIR="$work/state" \
  CATDOG_LOG_LEVEL=warn "$work/opt/bin/catdogd" || fail "catdogd configured by environment did not start"
server_pid=$CATDOG_PID
addr=$CATDOG_SERVER
# The Dockerfile's HEALTHCHECK, with the test server's port.
health_cmd="$(sed -nE 's/.*CMD \[(.*health")\].*/\1/p' "$dockerfile" | head -n1 | tr -d '",')"
read -r -a argv <<<"${health_cmd/127.0.0.1:50051/$addr}"
out="$(LD_LIBRARY_PATH="$work/opt/lib" PATH="$work/opt/bin:$PATH" "${argv[@]}")" || fail "HEALTHCHECK failed"
[[ "$out" == SERVING ]] || fail "HEALTHCHECK said $out"
kill -TERM "$server_pid"
wait "$server_pid" || fail "catdogd exited $? on SIGTERM"
server_pid=""
pass "env-configured server answers the HEALTHCHECK and exits 0 on SIGTERM"

# A serving replica configured as serving.yaml does, before anything is published.
mkdir -p "$work/models"
catdogd_start "$work" "$work/replica.log" env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH="$work/opt/lib" \
  CATDOG_LISTEN=127.0.0.1:0 CATDOG_SERVE_ONLY=true CATDOG_MODEL="$work/models" CATDOG_LOG_LEVEL=warn \
  "$work/opt/bin/catdogd" || fail "a replica configured by environment did not start"
server_pid=$CATDOG_PID
ctl=(env LD_LIBRARY_PATH="$work/opt/lib" "$work/opt/bin/catdogctl" --server "$CATDOG_SERVER" --timeout 4)
[[ "$("${ctl[@]}" health)" == SERVING ]] || fail "replica process health"
[[ "$("${ctl[@]}" health --service catdog.v1.InferenceService || true)" == NOT_SERVING ]] \
  || fail "a replica with nothing to serve must not be ready"
[[ ! -e "$work/models/catdog.db" ]] || fail "a replica wrote state into its model folder"
kill -TERM "$server_pid"
wait "$server_pid" || fail "replica exited $? on SIGTERM"
server_pid=""
pass "env-configured serving replica starts not ready with nothing published, exits 0 on SIGTERM"

if command -v systemd-analyze >/dev/null 2>&1; then
  # The binary is not installed here; any other remark (unknown key, bad
  # value) fails the check.
  remarks="$(systemd-analyze verify "$src/deploy/catdogd.service" 2>&1 \
    | grep -v 'Command /opt/catdog/bin/catdogd is not executable' || true)"
  [[ -z "$remarks" ]] || fail "systemd unit: $remarks"
  pass "systemd unit verified"
fi
echo "deploy: $checks passed, 0 failed"
