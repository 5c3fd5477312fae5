// catdogd's composition root: opens the job store, restores jobs and the
// serving model, starts the job manager, the batcher and the gRPC server
// (with grpc.health.v1). It owns the components and wires
// them together; the logic lives in them. Security (TLS, tokens, the
// non-loopback rule, reflection off by default) is set up here too.
//
// Thread-safe. Health (grpc.health.v1): the server ("") is NOT_SERVING
// until start-up is complete; catdog.v1.InferenceService is SERVING only
// while a model is being served. At start the newest promoted model that
// still loads is served again.
// Shutdown order: health NOT_SERVING, stop jobs (INTERRUPTED at
// a batch boundary), release watchers, drain in-flight RPCs, drain the
// batcher.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/auth/tokens.h"
#include "common/data/precision.h"
#include "common/data/training_run.h"
#include "server/serving/dynamic_batcher.h"

namespace grpc {
class Server;
}

namespace catdog::server {

class EventHub;
class InferenceServiceImpl;
class JobManager;
class JobStore;
class MemoryTrimmer;
class ModelFiles;
class ModelWatcher;
class Metrics;
struct CallPolicy;
class ModelServiceImpl;
class OipServiceImpl;
class ServingEngine;
class StatsServiceImpl;
class TrainingServiceImpl;

struct ServerOptions {
  std::string listen_address = "127.0.0.1:50051";  // port 0 picks a free port
  std::string data_root;                           // required
  std::string state_dir;                           // required; created if missing
  int max_concurrent_jobs = 1;
  int max_queued_jobs = 16;
  double max_job_memory_gb = 0;  // per job, estimated before it is queued; 0 = 3/4 of physical memory
  int threads = 0;  // intra-op threads (training and inference); 0 = all cores
  std::string device = "auto";  // for serving; jobs choose their own
  common::Precision serving_precision = common::Precision::kFp32;  // bf16 / fp16: CUDA only
  int max_batch_size = 32;
  // 0: a batch starts as soon as the batcher is idle; it holds whatever
  // arrived during the previous forward pass.
  absl::Duration max_queue_delay = absl::ZeroDuration();
  int max_queued_images = 1024;
  int max_request_mb = 64;
  int max_import_mb = 512;  // largest PyTorch state dict ImportModel accepts
  // How long a Classify request may take to arrive; 0 = no limit.
  absl::Duration upload_timeout = absl::Seconds(60);
  // Intra-op threads of the serving forward pass; 0 = the process's count.
  int serving_threads = 0;
  // Fewer serving threads while other processes hold the cores (see
  // server/serving/intra_op_governor.h).
  bool adapt_serving_threads = true;
  // The nice value training jobs' threads run at; unset = as the server's
  // threads (main sets it when --serving-nice raised serving's priority).
  std::optional<int> job_nice;
  // Memory gRPC may hold for all connections and requests being received
  // (a grpc::ResourceQuota): stalled uploads cannot pin more than this.
  int max_receive_buffer_mb = 1024;
  int max_images_per_request = 256;
  int64_t max_image_pixels = 50'000'000;  // from the header, before decoding
  int max_pending_requests = 256;         // accepted, waiting to be decoded
  std::string serve_checkpoint;  // optional checkpoint to serve at start
  // A serving replica (README "Scale out"): no job store, training, imports
  // or state dir (data_root and state_dir stay empty); it serves the
  // checkpoint at `model` (a file, or a folder's newest *.ckpt) and follows
  // it, looking every model_poll_interval (server/serving/model_watcher.h).
  bool serve_only = false;
  std::string model;
  absl::Duration model_poll_interval = absl::Seconds(5);
  // A trainer for replicas: every model it serves is also copied to
  // publish_dir/serving.ckpt (atomically), the file replicas follow.
  std::string publish_dir;
  // Auto-promote also promotes a model that does not beat the serving one
  // when its validation accuracy reaches this; 0 = only better models.
  double promote_min_accuracy = 0;
  absl::Duration shutdown_grace = absl::Seconds(30);  // for in-flight RPCs
  // Keep the checkpoint files of the newest N finished jobs; 0 = all.
  int keep_checkpoints = 0;

  // Security (README "Security"). TLS: PEM files, read again when they
  // change (checked every tls_reload_interval); a client CA turns on mutual
  // TLS (clients must present a certificate it signed).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  absl::Duration tls_reload_interval = absl::Seconds(60);
  // Bearer tokens with scopes (common/auth/tokens.h); empty = tokens off,
  // every caller may do everything. Read again on ReloadTokens (SIGHUP).
  std::string tokens_file;
  // A non-loopback --listen needs TLS and tokens unless this is set.
  bool insecure = false;
  bool reflection = false;  // gRPC server reflection (lists the API)
  // Prometheus metrics (server/metrics.h) over HTTP on this host:port; port
  // 0 picks a free one; empty = off.
  std::string metrics_listen;
};

// True for addresses only this machine reaches: 127.0.0.0/8, ::1,
// localhost, unix: sockets.
bool IsLoopbackAddress(const std::string& listen_address);

// Seams for tests: each empty member keeps the real component.
struct ServerHooks {
  common::TrainingRunFactory make_run;  // default: common::Trainer::Create
  BatcherOptions::Predict predict;      // default: the model's forward pass
};

class Server {
 public:
  // INVALID_ARGUMENT for bad options, FAILED_PRECONDITION when the data root
  // is missing or another catdogd holds the state dir, UNAVAILABLE when the
  // address cannot be bound. A serving replica starts without a model when
  // its path holds none yet (InferenceService NOT_SERVING until one loads).
  static absl::StatusOr<std::unique_ptr<Server>> Create(const ServerOptions& options,
                                                       ServerHooks hooks = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const { return port_; }
  int metrics_port() const;  // 0 when metrics are off
  std::string address() const;  // host:port actually bound

  // Reads the tokens file again (SIGHUP); on an error the old tokens stay.
  // OK and nothing done when tokens are off.
  absl::Status ReloadTokens();

  // Idempotent; returns when everything has stopped.
  void Shutdown();
  // Blocks until Shutdown() has finished.
  void Wait();

 private:
  Server(const ServerOptions& options, ServerHooks hooks);
  absl::Status Start();
  absl::Status OpenState();  // the state dir's lock, the job store, model files, the event hub
  absl::Status StartJobs();  // the job manager and TrainingService
  absl::Status LoadServingModel();
  // catdog.v1.InferenceService's health: SERVING while a model is served.
  void UpdateInferenceHealth() ABSL_LOCKS_EXCLUDED(health_mu_);

  const ServerOptions options_;
  const ServerHooks hooks_;
  int port_ = 0;
  // flock()ed for the server's lifetime: one catdogd per state dir.
  int state_lock_fd_ = -1;
  // Declaration order is construction order; destruction runs in reverse, so
  // services go before what they point to.
  std::unique_ptr<common::TokenRegistry> tokens_;
  std::unique_ptr<CallPolicy> policy_;  // read by every service
  std::unique_ptr<Metrics> metrics_;    // fed by the batcher and Classify; null when off
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<ModelFiles> model_files_;
  std::unique_ptr<EventHub> hub_;
  std::unique_ptr<ServingEngine> engine_;
  std::unique_ptr<ModelWatcher> watcher_;  // serve-only: promotes into engine_
  std::unique_ptr<JobManager> jobs_;        // null in serve-only (so are store_, model_files_, hub_)
  std::unique_ptr<TrainingServiceImpl> training_service_;
  std::unique_ptr<InferenceServiceImpl> inference_service_;
  std::unique_ptr<ModelServiceImpl> model_service_;
  std::unique_ptr<OipServiceImpl> oip_service_;
  std::unique_ptr<StatsServiceImpl> stats_service_;
  std::unique_ptr<MemoryTrimmer> trimmer_;  // reads engine_ and jobs_
  // Written once in Start, under health_mu_: job workers (auto-promote) may
  // already run and update the health from their thread.
  absl::Mutex health_mu_;
  std::unique_ptr<grpc::Server> grpc_server_;
  bool health_frozen_ ABSL_GUARDED_BY(health_mu_) = false;  // shutting down: all NOT_SERVING

  absl::Mutex shutdown_mu_;  // serialises Shutdown()
  absl::Notification stopped_;
};

}  // namespace catdog::server
