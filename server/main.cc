// catdogd: the catdog server. Flags may also come from CATDOG_* environment
// variables (shown in --help). SIGTERM / SIGINT shut down gracefully: running
// jobs stop at a batch boundary (INTERRUPTED), in-flight requests finish,
// exit code 0. SIGHUP reads the tokens file again.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/data/log_format.h"
#include "common/data/precision.h"
#include "common/data/scheduling.h"
#include "common/ml/device.h"
#include "common/ml/rank_processes.h"
#include "server/server.h"

int main(int argc, char** argv) {
  // A data-parallel job's rank 1..N-1 (--nproc-per-node): this binary started again.
  if (catdog::common::IsChildRankInvocation(argc, argv)) return catdog::common::RunChildRank();
  catdog::server::ServerOptions o;
  double max_queue_delay_ms = 0.0;
  std::string serving_precision = "fp32";
  double shutdown_grace_s = 30.0;
  std::string log_level = "info";

  CLI::App app{"catdogd: trains image classifiers and serves them over gRPC"};
  app.set_version_flag("--version", "catdogd " CATDOG_VERSION);
  app.add_option("--listen", o.listen_address, "host:port to listen on (port 0 = any free port)")
      ->envname("CATDOG_LISTEN")->capture_default_str();
  app.add_option("--data-root", o.data_root, "training datasets may only be read from inside this folder (required, except with --serve-only)")
      ->envname("CATDOG_DATA_ROOT");
  app.add_option("--state-dir", o.state_dir, "SQLite job store, checkpoints and TensorBoard runs, created if missing (required, except with --serve-only)")
      ->envname("CATDOG_STATE_DIR");
  app.add_option("--max-concurrent-jobs", o.max_concurrent_jobs, "training jobs run at once (1 per GPU)")
      ->envname("CATDOG_MAX_CONCURRENT_JOBS")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--max-queued-jobs", o.max_queued_jobs, "jobs waiting beyond those running")
      ->envname("CATDOG_MAX_QUEUED_JOBS")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--max-job-memory-gb", o.max_job_memory_gb, "refuse jobs estimated to need more memory (0 = 3/4 of this machine's)")
      ->envname("CATDOG_MAX_JOB_MEMORY_GB")->capture_default_str()->check(CLI::Range(0.0, 1e6));
  app.add_option("--threads", o.threads, "intra-op CPU threads for training and inference (0 = all cores)")
      ->envname("CATDOG_THREADS")->capture_default_str()->check(CLI::Range(0, 1024));
  app.add_option("--device", o.device, "serving device: auto | cpu | cuda | cuda:N")
      ->envname("CATDOG_DEVICE")->capture_default_str();
  app.add_option("--serving-precision", serving_precision,
                 "serving compute: fp32 | bf16 | fp16 (reduced precision needs a CUDA device)")
      ->envname("CATDOG_SERVING_PRECISION")->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  app.add_option("--max-batch-size", o.max_batch_size, "images per inference forward pass at most")
      ->envname("CATDOG_MAX_BATCH_SIZE")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--max-queue-delay-ms", max_queue_delay_ms, "longest an image waits for more to batch with (0 = start as soon as the batcher is idle)")
      ->envname("CATDOG_MAX_QUEUE_DELAY_MS")->capture_default_str()->check(CLI::Range(0.0, 10000.0));
  app.add_option("--max-queued-images", o.max_queued_images, "inference queue bound (full -> RESOURCE_EXHAUSTED)")
      ->envname("CATDOG_MAX_QUEUED_IMAGES")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--max-import-mb", o.max_import_mb, "largest PyTorch state dict `catdogctl import` may upload")
      ->envname("CATDOG_MAX_IMPORT_MB")->capture_default_str()->check(CLI::Range(1, 4095));
  app.add_option("--max-request-mb", o.max_request_mb, "largest accepted request message")
      ->envname("CATDOG_MAX_REQUEST_MB")->capture_default_str()->check(CLI::Range(1, 2047));
  double upload_timeout_s = absl::ToDoubleSeconds(o.upload_timeout);
  app.add_option("--upload-timeout-s", upload_timeout_s,
                 "seconds a Classify request may take to arrive; a client that stalls mid-upload is ended "
                 "with DEADLINE_EXCEEDED (0 = no limit)")
      ->envname("CATDOG_UPLOAD_TIMEOUT_S")->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  app.add_option("--serving-threads", o.serving_threads,
                 "intra-op threads of the serving forward pass (0 = --threads); fewer while other "
                 "processes hold the cores, unless --fixed-serving-threads")
      ->envname("CATDOG_SERVING_THREADS")->capture_default_str()->check(CLI::Range(0, 1024));
  bool fixed_serving_threads = false;
  app.add_flag("--fixed-serving-threads", fixed_serving_threads,
               "keep the serving thread count even while other processes hold the cores")
      ->envname("CATDOG_FIXED_SERVING_THREADS");
  const int start_nice = catdog::common::ThreadNice().value_or(0);
  int serving_nice = start_nice;
  app.add_option("--serving-nice", serving_nice,
                 "nice value of the serving threads (gRPC, decoding, forward passes; default: the one "
                 "catdogd starts with, which training jobs keep); below it needs CAP_SYS_NICE or RLIMIT_NICE")
      ->envname("CATDOG_SERVING_NICE")->capture_default_str()->check(CLI::Range(-20, 19));
  app.add_option("--max-receive-buffer-mb", o.max_receive_buffer_mb,
                 "memory all connections together may hold for requests still arriving; past it gRPC "
                 "refuses or resets uploads (RESOURCE_EXHAUSTED)")
      ->envname("CATDOG_MAX_RECEIVE_BUFFER_MB")->capture_default_str()->check(CLI::Range(16, 1 << 20));
  app.add_option("--max-images-per-request", o.max_images_per_request, "images in one Classify call at most")
      ->envname("CATDOG_MAX_IMAGES_PER_REQUEST")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--max-image-pixels", o.max_image_pixels, "largest image (width x height, read from its header) decoded; larger ones fail alone")
      ->envname("CATDOG_MAX_IMAGE_PIXELS")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  app.add_option("--max-pending-requests", o.max_pending_requests, "Classify requests waiting to be decoded (more -> RESOURCE_EXHAUSTED)")
      ->envname("CATDOG_MAX_PENDING_REQUESTS")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--promote-min-accuracy", o.promote_min_accuracy, "auto-promote a finished job's best checkpoint when it beats the serving model's validation accuracy, or reaches this (0 = only when it beats it)")
      ->envname("CATDOG_PROMOTE_MIN_ACCURACY")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--serve-checkpoint", o.serve_checkpoint, "checkpoint file to serve at start")
      ->envname("CATDOG_SERVE_CHECKPOINT");
  auto* scale_out = "Scale out (README \"Scale out\")";
  app.add_option("--publish-dir", o.publish_dir,
                 "copy every model this catdogd serves to DIR/serving.ckpt (atomically), for --serve-only replicas")
      ->envname("CATDOG_PUBLISH_DIR")->group(scale_out);
  app.add_flag("--serve-only", o.serve_only,
               "a serving replica: no state dir, no training; serves --model and follows it")
      ->envname("CATDOG_SERVE_ONLY")->group(scale_out);
  app.add_option("--model", o.model,
                 "with --serve-only: a checkpoint file, or a folder whose newest *.ckpt is served (a trainer's "
                 "--publish-dir); a changed file is loaded and swapped in")
      ->envname("CATDOG_MODEL")->group(scale_out);
  double model_poll_s = absl::ToDoubleSeconds(o.model_poll_interval);
  app.add_option("--model-poll-s", model_poll_s, "with --serve-only: how often --model is looked at")
      ->envname("CATDOG_MODEL_POLL_S")->capture_default_str()->check(CLI::Range(0.01, 3600.0))->group(scale_out);
  app.add_option("--shutdown-grace-s", shutdown_grace_s, "how long in-flight requests may take at shutdown")
      ->envname("CATDOG_SHUTDOWN_GRACE_S")->capture_default_str()->check(CLI::Range(0.0, 3600.0));
  app.add_option("--keep-checkpoints", o.keep_checkpoints,
                 "keep the checkpoint files of the newest N finished jobs, remove older ones' (never a served "
                 "model's; INTERRUPTED jobs keep theirs); 0 = keep all")
      ->envname("CATDOG_KEEP_CHECKPOINTS")->capture_default_str()->check(CLI::Range(0, 1000000));
  auto* security = "Security (README \"Security\")";
  app.add_option("--tls-cert", o.tls_cert, "server certificate chain (PEM); turns on TLS")
      ->envname("CATDOG_TLS_CERT")->group(security);
  app.add_option("--tls-key", o.tls_key, "the certificate's private key (PEM)")
      ->envname("CATDOG_TLS_KEY")->group(security);
  app.add_option("--tls-client-ca", o.tls_client_ca,
                 "CA bundle (PEM) for mutual TLS: clients must present a certificate it signed")
      ->envname("CATDOG_TLS_CLIENT_CA")->group(security);
  double tls_reload_s = absl::ToDoubleSeconds(o.tls_reload_interval);
  app.add_option("--tls-reload-interval-s", tls_reload_s,
                 "how often the TLS files are checked for changes (renewed certificates need no restart)")
      ->envname("CATDOG_TLS_RELOAD_INTERVAL_S")->capture_default_str()->check(CLI::Range(1.0, 86400.0))
      ->group(security);
  app.add_option("--tokens-file", o.tokens_file,
                 "bearer tokens with scopes, hashed, one per line (make them with `catdogctl token`); "
                 "read again on SIGHUP. Without it every caller may do everything")
      ->envname("CATDOG_TOKENS_FILE")->group(security);
  app.add_flag("--insecure", o.insecure,
               "allow a non-loopback --listen without TLS and tokens (anyone who reaches the port may "
               "train, promote and read)")
      ->envname("CATDOG_INSECURE")->group(security);
  app.add_flag("--reflection", o.reflection, "gRPC server reflection (lets grpcurl list the API)")
      ->envname("CATDOG_REFLECTION")->group(security);
  app.add_option("--metrics-listen", o.metrics_listen,
                 "host:port for Prometheus metrics over HTTP (GET /metrics; no authentication: keep it on "
                 "loopback or a scrape-only network); empty = off")
      ->envname("CATDOG_METRICS_LISTEN");
  app.add_option("--log-level", log_level, "trace | debug | info | warn | error")
      ->envname("CATDOG_LOG_LEVEL")->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  CLI11_PARSE(app, argc, argv);
  o.max_queue_delay = absl::Microseconds(static_cast<int64_t>(max_queue_delay_ms * 1000));
  o.shutdown_grace = absl::Seconds(shutdown_grace_s);
  o.upload_timeout = absl::Seconds(upload_timeout_s);
  o.tls_reload_interval = absl::Seconds(tls_reload_s);
  o.adapt_serving_threads = !fixed_serving_threads;
  o.model_poll_interval = absl::Seconds(model_poll_s);
  o.serving_precision = *catdog::common::ParsePrecision(serving_precision);  // checked above

  // OpenCV's own pixel cap, read at its first decode, bounds the formats
  // whose headers catdog does not parse (TIFF) to the same limit.
  ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", std::to_string(o.max_image_pixels).c_str(), /*overwrite=*/0);
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");

  // Block the stop signals in every thread (the mask is inherited); one
  // thread below receives them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Before any thread exists: threads inherit it; training's workers go back.
  if (serving_nice != start_nice) {
    if (const absl::Status set = catdog::common::SetThreadNice(serving_nice); !set.ok()) {
      spdlog::error("cannot start: --serving-nice {}: {}", serving_nice, set.message());
      return 1;
    }
    o.job_nice = start_nice;
  }
  const bool allocator_tuned = catdog::common::ConfigureHostAllocator();
  const int threads = catdog::common::ConfigureThreads(o.threads);
  spdlog::info("catdogd starting: {} intra-op threads, serving device {}, host allocator {}, nice {} for "
               "serving and {} for training", threads, o.device,
               allocator_tuned ? "tuned (no mmap per tensor)" : "left at C library defaults", serving_nice, start_nice);
  auto server = catdog::server::Server::Create(o);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.status());
    return 1;
  }
  if (o.insecure && !catdog::server::IsLoopbackAddress(o.listen_address)) {
    spdlog::warn("--insecure: {} is reachable from other machines{}{}", o.listen_address,
                 o.tls_cert.empty() ? ", without TLS" : "", o.tokens_file.empty() ? ", without tokens" : "");
  }
  // Scripts and tests read the bound port from this line; what is logged
  // before it is in the log when they do.
  std::printf("catdogd listening on %s\n", (*server)->address().c_str());
  std::fflush(stdout);
  std::thread signal_thread([&signals, s = server->get()] {
    int sig = 0;
    while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
      const absl::Status reloaded = s->ReloadTokens();
      if (reloaded.ok()) {
        spdlog::info("received SIGHUP: tokens file read again");
      } else {
        spdlog::error("received SIGHUP: tokens file not reloaded, the old tokens stay: {}", reloaded);
      }
    }
    spdlog::info("received {}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    s->Shutdown();
  });
  (*server)->Wait();
  signal_thread.join();
  return 0;
}
