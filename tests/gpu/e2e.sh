#!/usr/bin/env bash
# The reference recipe end to end on a GPU host, side by side with the notebook
# on the same GPU (README "GPU hosts"). One prepared run, about ten minutes:
#
#   1. builds catdogd, catdogctl and catdog-train against the host's LibTorch,
#      with the dependency bundle (deploy/gpu-bundle.sh) when the host has none;
#   2. catdogd on the GPU: the reference recipe (224 px, batch 16, Adam 1e-4,
#      plateau, early stopping, up to 55 epochs, best/last test evaluation) in
#      fp32, then in bf16, each timed from start-training to the test results,
#      with per-epoch seconds, images/s and wait for data from its events;
#   3. bench/reference_train.py as the notebook runs it (fp32, num_workers=0)
#      and tuned (loader workers, pinned memory, channels-last, bf16), each
#      capped by NOTEBOOK_MINUTES of wall time;
#   4. serving: catdogctl bench at 1, 16 and 64 callers against catdogd (fp32,
#      bf16) and bench/python_server.py, on the test photos;
#   5. nvidia-smi dmon through it all: GPU busy per stage in summary.txt.
#
#   tests/gpu/e2e.sh [--quick]
#
# Inputs (environment): DATA (train/ and test/ ImageFolders; make a 224 px copy
# with catdog-resize-dataset), BUNDLE (catdog-deps.tar.xz, used when the host
# lacks gRPC), OUT (results folder; default $OUT or ./gpu-e2e), BUILD_DIR
# (build-gpu; with --quick an existing build to use as it is), PY (python3),
# NOTEBOOK_MINUTES (2.5), SERVE_SECONDS (10), LOADER_WORKERS (8), DEADLINE_S
# (570: the notebook loops shrink, and later stages are skipped with a note in
# summary.txt, so that the run ends within one 600 s device call).
#
# --quick: the same steps on the CPU at 32 px, width 1/8, 2 epochs, 1 s of
# serving load, the notebook loops for one epoch, and no bf16 (it needs CUDA):
# proves the script on a machine without a GPU (CTest gpu_e2e_quick).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1
OUT=$(mkdir -p "${OUT:-$repo/gpu-e2e}" && cd "${OUT:-$repo/gpu-e2e}" && pwd)
PY="${PY:-python3}"
: > "$OUT/stages.txt"; : > "$OUT/summary.txt"; : > "$OUT/serving.txt"
work=$(mktemp -d "${TMPDIR:-/tmp}/catdog_gpu_e2e_XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

log() { echo "== $(date -u +%T) $*" | tee -a "$OUT/stages.txt"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }
# Seconds left before DEADLINE_S (default 570: a device call ends at 600 s).
# Later stages shrink or are skipped, and say so, rather than be cut off.
script_start=$(now)
left() { awk -v a="$script_start" -v b="$(now)" -v d="${DEADLINE_S:-570}" 'BEGIN {printf "%d", d - (b - a)}'; }
skip() { echo "skipped, $(left) s left: $*" | tee -a "$OUT/summary.txt"; }

if [[ $quick == 1 ]]; then
  device=cpu size=32 width=0.125 epochs=2 precisions=(fp32) serve_s=1 callers=(1 4)
  nb_epochs=1 nb_minutes=0.01 build="${BUILD_DIR:-build}"
else
  device=cuda size=224 width=1 epochs=55 precisions=(fp32 bf16) serve_s="${SERVE_SECONDS:-10}" callers=(1 16 64)
  nb_epochs=55 nb_minutes="${NOTEBOOK_MINUTES:-2.5}" build="${BUILD_DIR:-build-gpu}"
fi

log "host"
{
  uname -a
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 || echo "no torch in $PY"
  nproc
} | tee "$OUT/host.txt"
if command -v nvidia-smi >/dev/null && [[ $quick == 0 ]]; then
  nvidia-smi dmon -s u -d 1 -o T > "$OUT/dmon.txt" 2>&1 &
  pids+=($!)
fi

# ---- 1. Build ----
if [[ $quick == 0 ]]; then
  if ! command -v protoc >/dev/null && [[ -n "${BUNDLE:-}" ]]; then
    log "unpacking $BUNDLE"
    tar -C "$work" -xJf "$BUNDLE"
    # shellcheck disable=SC1091
    source "$work/catdog-deps/env.sh"
  fi
  torch_prefix=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
  log "build against $torch_prefix"
  t=$(now)
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_prefix" \
    -DCATDOG_BUILD_TESTS=OFF > "$OUT/build.txt" 2>&1
  cmake --build "$build" --target catdogd catdogctl catdog-train catdog-resize-dataset >> "$OUT/build.txt" 2>&1 ||
    { tail -40 "$OUT/build.txt"; exit 1; }
  echo "build_seconds $(elapsed "$t")" | tee -a "$OUT/summary.txt"
  ldd "$build/server/catdogd" | grep "not found" && exit 1
fi
ctl="$build/client/catdogctl"

if [[ -z "${DATA:-}" ]]; then
  [[ $quick == 1 ]] || { echo "DATA: a folder with train/ and test/ (catdog-resize-dataset makes a 224 px copy)" >&2; exit 2; }
  DATA="$work/data"
  "$build/tests/catdog-make-dataset" "$DATA/train" 24 40 >/dev/null
  "$build/tests/catdog-make-dataset" "$DATA/test" 8 40 7 >/dev/null
fi
DATA=$(cd "$DATA" && pwd)

# shellcheck source=../../deploy/catdogd-launch.sh
source deploy/catdogd-launch.sh
start_catdogd() {  # LOG ARGS...: starts catdogd, sets server and server_pid
  local name="$1"
  shift
  catdogd_start "$work" "$OUT/$name.log" "$build/server/catdogd" --listen 127.0.0.1:0 \
    --data-root "$DATA" --device "$device" "$@" || { tail -20 "$OUT/$name.log"; exit 1; }
  server_pid=$CATDOG_PID server=$CATDOG_SERVER
  pids+=("$server_pid")
}
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# ---- 2. catdog's recipe, fp32 then bf16 ----
state="$work/state"
start_catdogd catdogd_train --state-dir "$state"
for precision in "${precisions[@]}"; do
  log "catdog reference recipe, $precision"
  t=$(now)
  "$ctl" --server "$server" start-training train --test-root test --image-size "$size" --width "$width" \
    --epochs "$epochs" --precision "$precision" --device "$device" --loader-workers "${LOADER_WORKERS:-8}" \
    --watch 2>&1 | tee "$OUT/catdog_$precision.txt"
  seconds=$(elapsed "$t")
  job=$("$ctl" --server "$server" --json jobs | head -n1 | sed -nE 's/.*"id":"([^"]+)".*/\1/p')
  "$ctl" --server "$server" --json status "$job" > "$OUT/catdog_${precision}_job.json"
  "$ctl" --server "$server" --json watch "$job" > "$OUT/catdog_${precision}_events.jsonl"
  echo "catdog_${precision}_seconds_to_test_results $seconds" | tee -a "$OUT/summary.txt"
  log "catdog $precision done"
done
stop "$server_pid"
best=$(find "$state" -name best.ckpt | head -n1)

# ---- 3. The notebook's loop and a tuned PyTorch loop ----
serve_need=$(( (${#precisions[@]} + 1) * (${#callers[@]} * serve_s + 15) ))
if "$PY" -c 'import torch, torchvision' 2>/dev/null; then
  loops_left=2
  for variant in notebook tuned; do
    # Each loop gets NOTEBOOK_MINUTES, or its share of what serving leaves.
    minutes=$(awk -v l="$(left)" -v s="$serve_need" -v n="$loops_left" -v m="$nb_minutes" \
      'BEGIN {b = (l - s - 60 * n) / n / 60; printf "%.2f", (b < m ? b : m)}')
    loops_left=$((loops_left - 1))
    if awk -v m="$minutes" -v q="$quick" 'BEGIN {exit !(m < 0.5 && q == 0)}'; then
      skip "python $variant loop"
      continue
    fi
    log "python $variant loop"
    flags=()
    [[ $variant == tuned ]] && flags=(--tuned)
    (cd bench && "$PY" reference_train.py --data "$DATA" --image-size "$size" --epochs "$nb_epochs" \
      --early-stop 7 --max-minutes "$minutes" --device "$device" --threads "$(nproc)" "${flags[@]}") \
      2>&1 | tee "$OUT/python_$variant.txt"
    log "python $variant done"
  done
else
  echo "python loops: skipped ($PY has no torch/torchvision)" | tee -a "$OUT/summary.txt"
fi

# ---- 4. Serving ----
mapfile -t photos < <(find "$DATA/test" -type f | sort | head -n 64)
serve_bench() {  # NAME ADDRESS
  for c in "${callers[@]}"; do
    echo "$1 c$c $("$ctl" --server "$2" --json bench "${photos[@]}" -c "$c" -d "$serve_s")" | tee -a "$OUT/serving.txt"
  done
}
for precision in "${precisions[@]}"; do
  (( $(left) > ${#callers[@]} * serve_s + 15 )) || { skip "catdog serving, $precision"; continue; }
  log "catdog serving, $precision"
  start_catdogd "catdogd_serve_$precision" --state-dir "$work/serve_$precision" --serve-checkpoint "$best" \
    --serving-precision "$precision" --max-batch-size 64
  serve_bench "catdog_$precision" "$server"
  stop "$server_pid"
done
if (( $(left) <= ${#callers[@]} * serve_s + 15 )); then
  skip "python server"
elif "$PY" -c 'import grpc, torch, torchvision, PIL' 2>/dev/null && command -v protoc >/dev/null; then
  mkdir -p "$work/pb"
  protoc --python_out="$work/pb" -I proto proto/catdog/v1/catdog.proto
  log "python server"
  if catdogd_start "$work" "$OUT/python_server.log" bash -c \
       "cd bench && exec $PY python_server.py --pb-dir $work/pb --image-size $size --threads $(nproc) --device $device"; then
    pids+=("$CATDOG_PID")
    serve_bench python "$CATDOG_SERVER"
    stop "$CATDOG_PID"
  else
    echo "python server: did not start (python_server.log)" | tee -a "$OUT/summary.txt"
  fi
fi
log "end"

# ---- 5. Summary: GPU busy per stage (dmon's sm%), throughput ----
"$PY" - "$OUT" <<'EOF' | tee -a "$OUT/summary.txt"
import json, os, re, sys
out = sys.argv[1]
stages = [l.rstrip("\n").split(" ", 2)[1:] for l in open(f"{out}/stages.txt") if l.startswith("== ")]
dmon = []
if os.path.exists(f"{out}/dmon.txt"):
    for l in open(f"{out}/dmon.txt"):
        f = l.split()
        if len(f) > 3 and re.match(r"\d\d:\d\d:\d\d$", f[0]) and f[2].isdigit():
            dmon.append((f[0], int(f[2])))
for (t0, name), (t1, _) in zip(stages, stages[1:]):
    busy = [sm for t, sm in dmon if t0 <= t < t1]
    if busy:
        print(f"gpu_busy_mean_percent {name.strip()!r} {sum(busy) / len(busy):.1f} over {len(busy)} s")
for name in sorted(os.listdir(out)):
    if name.startswith("python_") and name.endswith(".txt"):
        for l in open(f"{out}/{name}"):
            if l.startswith('{"contender"'):
                print(name[:-4], l.strip())
    if name.endswith("_job.json"):
        print(name[:-5], open(f"{out}/{name}").read().strip()[:2000])
    if name.endswith("_events.jsonl"):  # per epoch: seconds, images/s, the wait for data
        epochs = []
        def find(o):
            if isinstance(o, dict):
                if "train_images_per_second" in o:
                    epochs.append(o)
                for v in o.values():
                    find(v)
        for l in open(f"{out}/{name}"):
            if l.strip():
                find(json.loads(l))
        if epochs:
            seconds = sum(e.get("seconds", 0) for e in epochs)
            wait = sum(e.get("data_wait_seconds", 0) for e in epochs)
            print(f"{name[:-13]}_epochs {len(epochs)} train_seconds {seconds:.1f} "
                  f"mean_images_per_second {sum(e['train_images_per_second'] for e in epochs) / len(epochs):.1f} "
                  f"data_wait_share {wait / seconds if seconds else 0:.3f}")
EOF
echo "tests/gpu/e2e.sh: done; results in $OUT"
