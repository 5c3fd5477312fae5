#!/usr/bin/env bash
# The benchmark suite: catdog against the reference notebook's loop, the
# training compute limit, PIL, the raw forward pass and a plain Python gRPC
# server, all in one run on this machine, contenders alternated and repeated
# (medians reported). Writes BENCHMARKS.md, or $BENCH_OUT; --quick writes
# ${TMPDIR:-/tmp}/catdog-BENCHMARKS.quick.md unless BENCH_OUT is set, so it never
# replaces the recorded figures.
#
#   bench/run.sh            full run on the real photos (REPEATS=5 took 27 minutes on 2 cores)
#   bench/run.sh --quick    tiny inputs, seconds: checks that every bench command runs
#
# Environment: CATDOG_DATA_DIR (../shared/data/catdog), BUILD_DIR (build),
# THREADS (2), REPEATS (3), BATCHES (20), SERVE_SECONDS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
src="$(pwd)"
build="$(cd "${BUILD_DIR:-build}" && pwd)"
quick=false
[[ "${1:-}" == "--quick" ]] && quick=true
py=/usr/bin/python3  # Debian's interpreter: python3-torch, -torchvision, -grpcio, -pil

threads="${THREADS:-2}"
if $quick; then
  size=32; width=0.125; repeats=1; batches=2; serve_s=1; per_class=20; concurrency=(1 4)
else
  size=64; width=1.0; repeats="${REPEATS:-3}"; batches="${BATCHES:-20}"
  serve_s="${SERVE_SECONDS:-10}"; per_class=200; concurrency=(1 4 16 64)
fi

if $quick; then report="${BENCH_OUT:-${TMPDIR:-/tmp}/catdog-BENCHMARKS.quick.md}"; else report="${BENCH_OUT:-$src/BENCHMARKS.md}"; fi
work="$(mktemp -d "${TMPDIR:-/tmp}/catdog_bench_XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
results="$work/results.jsonl"
# catdog's host allocator settings (common/device.h), for the Python
# contenders in the "where the speed comes from" rows.
tuned_malloc=(env MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824)
record() { # record CONTENDER JSON
  "$py" -c 'import json,sys; d=json.loads(sys.argv[2]); d["contender"]=sys.argv[1]; print(json.dumps(d))' "$1" "$2" >>"$results"
}

# ---- The images: the same subset for every training contender ----
data="${CATDOG_DATA_DIR:-$src/../shared/data/catdog}"
if $quick || [[ ! -d "$data/train" ]]; then
  $quick || echo "bench: $data not found; using synthetic images" >&2
  "$build/tests/catdog-make-dataset" "$work/photos/train" 40 48 >/dev/null
  "$build/tests/catdog-make-dataset" "$work/photos/test" 10 48 7 >/dev/null
  data="$work/photos"
fi
for cls in cat dog; do
  mkdir -p "$work/subset/$cls"
  mapfile -t files < <(find "$data/train/$cls" -type f | sort -V)
  for f in "${files[@]:0:$per_class}"; do ln -s "$(realpath "$f")" "$work/subset/$cls/"; done
done
mapfile -t decode_files < <(find "$data/test" -type f | sort -V)
decode_files=("${decode_files[@]:0:200}")

# ---- 1. Training throughput, alternated ----
for r in $(seq "$repeats"); do
  echo "bench: training round $r/$repeats" >&2
  record reference "$(cd bench && "$py" reference_loop.py --data "$work/subset" --image-size "$size" \
    --batches "$batches" --threads "$threads")"
  record reference_tuned "$(cd bench && "${tuned_malloc[@]}" "$py" reference_loop.py --data "$work/subset" \
    --image-size "$size" --batches "$batches" --threads "$threads")"
  out="$("$build/tools/catdog-train" "$work/subset" --out "$work/train_out" --image-size "$size" \
    --width "$width" --epochs 2 --threads "$threads" --valid-fraction 0.2 --progress-interval 0 2>/dev/null)"
  for epoch in 1 2; do
    read -r ips wait_s < <(awk -v e="$epoch" '$1 == e && NF >= 9 { print $8, $9 }' <<<"$out")
    record "catdog_epoch$epoch" "{\"images_per_second\": $ips, \"data_wait_seconds\": $wait_s}"
  done
  record compute_limit "$("$build/bench/catdog-bench" --threads "$threads" compute --image-size "$size" \
    --width "$width" --batch 16 --batches "$batches")"
  record compute_nchw "$("$build/bench/catdog-bench" --threads "$threads" compute --image-size "$size" \
    --width "$width" --batch 16 --batches "$batches" --nchw)"
done

# ---- 2. Data path, one thread ----
for r in $(seq "$repeats"); do
  record catdog_decode "$("$build/bench/catdog-bench" --threads 1 decode --image-size "$size" "${decode_files[@]}")"
  record pil_decode "$("$py" bench/pil_decode.py "$size" "${decode_files[@]}")"
done

# ---- 3. Serving ----
ckpt="$work/serve.ckpt"
"$build/bench/catdog-bench" make-checkpoint --out "$ckpt" --image-size "$size" --width "$width" >/dev/null
for r in $(seq "$repeats"); do
  for b in 8 16; do  # the batch sizes 16 callers can form
    record "raw_forward_b$b" "$("$build/bench/catdog-bench" --threads "$threads" forward --checkpoint "$ckpt" --batch "$b" --iters 10)"
  done
  for b in 1 32; do
    iters=$((b == 1 ? 40 : 10))
    record "raw_forward_b$b" "$("$build/bench/catdog-bench" --threads "$threads" forward --checkpoint "$ckpt" --batch "$b" --iters $iters)"
    record "module_forward_b$b" "$("$build/bench/catdog-bench" --threads "$threads" forward --module --checkpoint "$ckpt" --batch "$b" --iters $iters)"
    record "eager_forward_b$b" "$(cd bench && "$py" eager_forward.py --image-size "$size" --batch "$b" --iters $iters --threads "$threads")"
    record "eager_tuned_forward_b$b" "$(cd bench && "${tuned_malloc[@]}" "$py" eager_forward.py --image-size "$size" --batch "$b" --iters $iters --threads "$threads")"
  done
done

source deploy/catdogd-launch.sh
mkdir -p "$work/data_root" "$work/pb"
catdogd_start "$work" "$work/catdogd.log" "$build/server/catdogd" --listen 127.0.0.1:0 \
  --data-root "$work" --state-dir "$work/state" --threads "$threads" --serve-checkpoint "$ckpt" \
  --max-batch-size 32 --log-level warn
catdog_pid=$CATDOG_PID; pids+=("$catdog_pid")
catdog_addr=$CATDOG_SERVER
rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
record memory_idle "{\"rss_mb\": $(( $(rss_kb "$catdog_pid" VmRSS) / 1024 ))}"

protoc --python_out="$work/pb" -I proto proto/catdog/v1/catdog.proto
catdogd_start "$work" "$work/python_server.log" bash -c \
  "cd bench && exec $py python_server.py --pb-dir $work/pb --image-size $size --threads $threads" \
  || { cat "$work/python_server.log" >&2; exit 1; }
py_pid=$CATDOG_PID; pids+=("$py_pid")
py_addr=$CATDOG_SERVER

for r in $(seq "$repeats"); do
  for c in "${concurrency[@]}"; do
    record "catdog_serve_c$c" "$("$build/client/catdogctl" --server "$catdog_addr" --json bench "${decode_files[@]:0:64}" -c "$c" -d "$serve_s")"
    record "python_serve_c$c" "$("$build/client/catdogctl" --server "$py_addr" --json bench "${decode_files[@]:0:64}" -c "$c" -d "$serve_s")"
  done
done
record memory_serving "{\"rss_mb\": $(( $(rss_kb "$catdog_pid" VmHWM) / 1024 ))}"

# ---- 4. Memory while training (the same server, a one-epoch job) ----
CATDOG_SERVER="$catdog_addr" "$build/client/catdogctl" start-training subset --image-size "$size" \
  --width "$width" --epochs 1 --threads "$threads" --no-promote --watch >/dev/null
record memory_training "{\"rss_mb\": $(( $(rss_kb "$catdog_pid" VmHWM) / 1024 ))}"

# ---- 5. Fixed serving overhead: a model whose forward pass takes well under
# a millisecond, so one caller's latency is almost all decode, gRPC and
# batcher hand-off ----
tiny="$work/tiny.ckpt"
"$build/bench/catdog-bench" make-checkpoint --out "$tiny" --image-size "$size" --width 0.125 >/dev/null
catdogd_start "$work" "$work/catdogd_tiny.log" "$build/server/catdogd" --listen 127.0.0.1:0 \
  --data-root "$work" --state-dir "$work/state_tiny" --threads "$threads" --serve-checkpoint "$tiny" --log-level warn
pids+=("$CATDOG_PID")
for r in $(seq "$repeats"); do
  record tiny_forward_b1 "$("$build/bench/catdog-bench" --threads "$threads" forward --checkpoint "$tiny" --batch 1 --iters 100)"
  record tiny_serve_c1 "$("$build/client/catdogctl" --server "$CATDOG_SERVER" --json bench "${decode_files[@]:0:64}" -c 1 -d "$serve_s")"
done
# CPU time per request outside the forward pass, at 16 callers: the server's
# (decode, gRPC, batching, plus the tiny forward: an upper bound) and the load
# generator's, which shares the machine. Server CPU from /proc, in clock ticks.
tiny_c=$((${concurrency[-1]} < 16 ? ${concurrency[-1]} : 16))
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
for r in $(seq "$repeats"); do
  before=$(cpu_ticks "$CATDOG_PID")
  TIMEFORMAT='%U %S'
  { time "$build/client/catdogctl" --server "$CATDOG_SERVER" --json bench "${decode_files[@]:0:64}" \
      -c "$tiny_c" -d "$serve_s" >"$work/tiny_cpu.json" ; } 2>"$work/tiny_cpu.time"
  server_s=$(awk -v a="$before" -v b="$(cpu_ticks "$CATDOG_PID")" -v hz="$(getconf CLK_TCK)" 'BEGIN { print (b - a) / hz }')
  record tiny_cpu "$("$py" -c 'import json, sys
r = json.load(open(sys.argv[1])); n = r["requests"]; user, sys_ = map(float, open(sys.argv[2]).read().split())
print(json.dumps({"concurrency": int(sys.argv[4]), "requests": n, "server_ms_per_request": 1000 * float(sys.argv[3]) / n,
                  "client_ms_per_request": 1000 * (user + sys_) / n}))' "$work/tiny_cpu.json" "$work/tiny_cpu.time" "$server_s" "$tiny_c")"
done

# ---- Report ----
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')"
"$py" bench/report.py "$results" --machine "$machine" --size "$size" --threads "$threads" \
  --repeats "$repeats" --batches "$batches" --quick "$quick" >"$report"
echo "bench: wrote $report" >&2
