#include "server/server.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/server.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/data/log_format.h"
#include "common/data/status_macros.h"
#include "common/ml/device.h"
#include "catdog/v1/catdog.grpc.pb.h"
#include "common/ml/trainer.h"
#include "server/memory_trimmer.h"
#include "server/metrics.h"
#include "server/rpc/authorize.h"
#include "server/rpc/inference_service.h"
#include "server/rpc/model_service.h"
#include "server/rpc/oip_service.h"
#include "server/serving/model_files.h"
#include "server/serving/model_watcher.h"
#include "server/rpc/stats_service.h"
#include "server/rpc/training_service.h"
#include "server/serving/serving_engine.h"
#include "server/training/event_hub.h"
#include "server/training/job_manager.h"
#include "server/training/job_store.h"

namespace catdog::server {
namespace {

int64_t PhysicalMemoryBytes() {
  return static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE);
}

// A readable, non-empty PEM file, checked at start: a typo must not leave a
// server whose every handshake fails.
absl::Status CheckPemFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path);
  std::string first;
  if (!in || !std::getline(in, first)) return absl::FailedPreconditionError(absl::StrCat(flag, " ", path, " cannot be read"));
  if (first.rfind("-----BEGIN ", 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, " is not a PEM file"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(const ServerOptions& o) {
  if (o.tls_cert.empty()) return grpc::InsecureServerCredentials();
  CATDOG_RETURN_IF_ERROR(CheckPemFile("--tls-cert", o.tls_cert));
  CATDOG_RETURN_IF_ERROR(CheckPemFile("--tls-key", o.tls_key));
  if (!o.tls_client_ca.empty()) CATDOG_RETURN_IF_ERROR(CheckPemFile("--tls-client-ca", o.tls_client_ca));
  const auto interval = static_cast<unsigned>(std::max<int64_t>(1, absl::ToInt64Seconds(o.tls_reload_interval)));
  // Watches the files: a renewed certificate is served without a restart.
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      o.tls_key, o.tls_cert, o.tls_client_ca, interval);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (o.tls_client_ca.empty()) {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    tls.watch_root_certs();
    tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

// gRPC's reflection plugin registers itself for every server once the
// library is linked; this option takes it out again unless --reflection.
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [](const auto& p) { return p->name() == "proto_server_reflection"; }),
                   plugins->end());
  }
};

}  // namespace

bool IsLoopbackAddress(const std::string& address) {
  if (absl::StartsWith(address, "unix:") || absl::StartsWith(address, "unix-abstract:")) return true;
  std::string host = address.substr(0, address.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const ServerOptions& options, ServerHooks hooks) {
  if (options.serve_only) {
    if (options.model.empty()) return absl::InvalidArgumentError("--serve-only needs --model (a checkpoint file or a folder)");
    if (!options.data_root.empty() || !options.state_dir.empty() || !options.publish_dir.empty() ||
        !options.serve_checkpoint.empty()) {
      return absl::InvalidArgumentError(
          "--serve-only keeps no state and trains nothing: drop --data-root, --state-dir, --publish-dir and "
          "--serve-checkpoint (the trainer catdogd owns them; replicas follow --model)");
    }
    if (options.model_poll_interval <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("the model poll interval must be > 0");
    }
  } else {
    if (!options.model.empty()) {
      return absl::InvalidArgumentError("--model is for --serve-only replicas; a trainer serves its promoted "
                                        "models (or --serve-checkpoint)");
    }
    if (options.data_root.empty()) return absl::InvalidArgumentError("--data-root is required");
    if (options.state_dir.empty()) return absl::InvalidArgumentError("--state-dir is required");
  }
  // Refuse at start rather than fail every later model load.
  CATDOG_ASSIGN_OR_RETURN(const c10::Device serving_device, common::ResolveDevice(options.device));
  if (options.serving_precision != common::Precision::kFp32 && !serving_device.is_cuda()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--serving-precision ", common::PrecisionName(options.serving_precision),
        " needs a CUDA serving device; --device ", options.device, " resolves to ",
        serving_device.str()));
  }
  std::error_code ec;
  if (!options.serve_only && !std::filesystem::is_directory(options.data_root, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("data root ", options.data_root, " is not a directory"));
  }
  for (const std::string& dir : {options.state_dir, options.publish_dir}) {
    if (dir.empty()) continue;
    std::filesystem::create_directories(dir, ec);
    if (ec) return absl::FailedPreconditionError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  }
  if (options.max_request_mb < 1) return absl::InvalidArgumentError("max request size must be >= 1 MB");
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!options.tls_client_ca.empty() && options.tls_cert.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key");
  }
  if (!IsLoopbackAddress(options.listen_address) && !options.insecure &&
      (options.tls_cert.empty() || options.tokens_file.empty())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--listen ", options.listen_address, " is reachable from other machines, but ",
        options.tls_cert.empty() ? "there is no TLS (--tls-cert, --tls-key)" : "there are no tokens (--tokens-file)",
        ": anyone who reaches the port could train, promote and read. Give both, or --insecure to run open "
        "anyway (README \"Security\")"));
  }
  if (!hooks.make_run) {
    hooks.make_run = [](const common::TrainConfig& config)
        -> absl::StatusOr<std::unique_ptr<common::TrainingRun>> { return common::Trainer::Create(config); };
  }
  std::unique_ptr<Server> server(new Server(options, std::move(hooks)));
  CATDOG_RETURN_IF_ERROR(server->Start());
  return server;
}

Server::Server(const ServerOptions& options, ServerHooks hooks)
    : options_(options), hooks_(std::move(hooks)) {}

Server::~Server() {
  Shutdown();
  if (state_lock_fd_ >= 0) ::close(state_lock_fd_);  // releases the flock
}

absl::Status Server::ReloadTokens() {
  if (tokens_ == nullptr) return absl::OkStatus();
  return tokens_->Reload();
}

absl::Status Server::Start() {
  const absl::Time started = absl::Now();
  if (!options_.tokens_file.empty()) {
    CATDOG_ASSIGN_OR_RETURN(tokens_, common::TokenRegistry::Load(options_.tokens_file));
  }
  CATDOG_ASSIGN_OR_RETURN(const std::shared_ptr<grpc::ServerCredentials> credentials, MakeCredentials(options_));
  policy_ = std::make_unique<CallPolicy>(CallPolicy{tokens_.get(), PathRedactor(options_.data_root, options_.state_dir)});
  if (!options_.metrics_listen.empty()) metrics_ = std::make_unique<Metrics>();
  if (!options_.serve_only) CATDOG_RETURN_IF_ERROR(OpenState());

  ServingEngineOptions serving;
  serving.classifier = common::ClassifierOptions{options_.device, options_.serving_precision};
  serving.batcher.max_batch_size = options_.max_batch_size;
  serving.batcher.max_queue_delay = options_.max_queue_delay;
  serving.batcher.max_queue_size = options_.max_queued_images;
  serving.batcher.predict = hooks_.predict;
  serving.batcher.intra_op_threads = options_.serving_threads;
  serving.batcher.adapt_threads = options_.adapt_serving_threads;
  if (metrics_ != nullptr) {
    serving.batcher.on_batch = [m = metrics_.get()](const BatchTiming& t) { m->ObserveBatch(t); };
  }
  serving.max_images_per_request = options_.max_images_per_request;
  serving.max_image_pixels = options_.max_image_pixels;
  serving.max_pending_requests = options_.max_pending_requests;
  if (!options_.serve_only) {
    serving.resolve = [files = model_files_.get()](const api::ModelId& id) { return files->Path(id); };
    // A restart serves the same model (or the newest earlier one that loads).
    serving.record = [store = store_.get()](const api::ModelId& id, const std::string& path) {
      return store->RecordPromotion({id.ToString(), path});
    };
  }
  serving.on_serving = [this](const ServingModel& model) {
    if (metrics_ != nullptr) metrics_->ModelLoaded(policy_->redact.ModelId(model.id.ToString()));
    UpdateInferenceHealth();
    if (!options_.publish_dir.empty()) {
      // The trainer serves on when the copy fails; its replicas keep the
      // model they have.
      if (const absl::Status published = PublishCheckpoint(model.path, options_.publish_dir); published.ok()) {
        spdlog::info("published {} to {}/serving.ckpt", model.id.ToString(), options_.publish_dir);
      } else {
        spdlog::error("could not publish {} for serving replicas: {}", model.id.ToString(), published);
      }
    }
  };
  CATDOG_ASSIGN_OR_RETURN(engine_, ServingEngine::Create(std::move(serving)));
  if (options_.serve_only) {
    watcher_ = std::make_unique<ModelWatcher>(
        options_.model, options_.model_poll_interval,
        [engine = engine_.get()](const std::string& path) { return engine->Promote(api::ModelId::File(path)).status(); });
  } else {
    CATDOG_RETURN_IF_ERROR(StartJobs());
  }

  InferenceServiceImpl::OnFinish on_classify;
  if (metrics_ != nullptr) {
    on_classify = [m = metrics_.get()](const grpc::Status& status, absl::Duration took) {
      m->ObserveRequest(absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())), took);
    };
  }
  oip_service_ = std::make_unique<OipServiceImpl>(engine_.get(), policy_.get(), CATDOG_VERSION,
                                                  options_.max_images_per_request, on_classify);
  inference_service_ = std::make_unique<InferenceServiceImpl>(engine_.get(), options_.upload_timeout,
                                                              policy_.get(), std::move(on_classify));
  ModelServiceOptions model_options;
  model_options.max_import_bytes = int64_t{options_.max_import_mb} << 20;
  model_options.upload_timeout = options_.upload_timeout;
  std::error_code ec;
  model_options.data_root = std::filesystem::canonical(options_.data_root, ec).string();
  model_options.evaluation = common::ClassifierOptions{options_.device, common::Precision::kFp32};
  model_options.evaluation_threads = options_.threads;
  model_service_ = std::make_unique<ModelServiceImpl>(jobs_.get(), engine_.get(), model_files_.get(), policy_.get(),
                                                      std::move(model_options));
  stats_service_ = std::make_unique<StatsServiceImpl>(engine_.get(), jobs_.get(), started, policy_.get());

  // Health stays open (no token) for probes.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  if (options_.reflection) {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  } else {
    builder.SetOption(std::make_unique<WithoutReflection>());
  }
  builder.AddListeningPort(options_.listen_address, credentials, &port_);
  builder.SetMaxReceiveMessageSize(options_.max_request_mb * 1024 * 1024);
  grpc::ResourceQuota quota("catdogd");
  quota.Resize(static_cast<size_t>(options_.max_receive_buffer_mb) << 20);
  builder.SetResourceQuota(quota);
  // gRPC sets SO_REUSEPORT by default, which let a second catdogd bind a
  // port that is in use and take most of its calls. A taken port is an
  // error at start instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // A serving replica offers no TrainingService: its calls are UNIMPLEMENTED.
  if (training_service_ != nullptr) builder.RegisterService(training_service_.get());
  // Generic, so a stalled upload can be timed out (inference_service.h).
  builder.RegisterCallbackGenericService(inference_service_.get());
  builder.RegisterService(model_service_.get());
  builder.RegisterService(oip_service_.get());
  builder.RegisterService(stats_service_.get());
  {
    absl::MutexLock lock(&health_mu_);
    grpc_server_ = builder.BuildAndStart();
  }
  if (grpc_server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.listen_address,
                                               " (in use by another process, or not an address of this host)"));
  }
  // Listening but NOT_SERVING until the serving model is loaded: probes
  // (Kubernetes readiness, Docker HEALTHCHECK) hold traffic back meanwhile.
  grpc_server_->GetHealthCheckService()->SetServingStatus(false);
  CATDOG_RETURN_IF_ERROR(LoadServingModel());
  grpc_server_->GetHealthCheckService()->SetServingStatus(true);
  UpdateInferenceHealth();
  if (metrics_ != nullptr) {
    CATDOG_RETURN_IF_ERROR(metrics_->Serve(options_.metrics_listen, [this] {
      MetricsSnapshot s;
      s.serving = engine_->Stats();
      s.serving.serving_model_id = policy_->redact.ModelId(s.serving.serving_model_id);
      if (jobs_ != nullptr) {
        s.jobs = jobs_->CountByState();
        s.running = jobs_->List({common::JobState::kRunning});
      }
      return s;
    }));
    spdlog::info("metrics on http://{}:{}/metrics", options_.metrics_listen.substr(0, options_.metrics_listen.rfind(':')),
                 metrics_->port());
  }
  // Quiet: nothing trains (a job keeps its freed memory for its next step on
  // purpose) and no Classify call arrived during the last interval.
  trimmer_ = std::make_unique<MemoryTrimmer>(
      MemoryTrimmer::Options{}, [this, last_requests = int64_t{-1}]() mutable {
        const common::ServingStats stats = engine_->Stats();
        const bool quiet = stats.classify_requests == last_requests && stats.queue_depth == 0 &&
                           (jobs_ == nullptr || jobs_->CountByState()[common::JobState::kRunning] == 0);
        last_requests = stats.classify_requests;
        return quiet;
      });
  spdlog::info("catdogd listening on {} ({}, {}; {})", address(),
               options_.tls_cert.empty()       ? "plaintext"
               : options_.tls_client_ca.empty() ? "TLS"
                                                : "mutual TLS",
               tokens_ == nullptr ? "no tokens: every caller may do everything" : "tokens required",
               options_.serve_only ? absl::StrCat("serving replica following ", options_.model)
                                   : absl::StrCat("data root ", options_.data_root, ", state dir ", options_.state_dir));
  return absl::OkStatus();
}

absl::Status Server::OpenState() {
  // Two servers on one SQLite file and checkpoint folder would corrupt each
  // other's view of the jobs.
  const std::string lock_path = options_.state_dir + "/catdogd.lock";
  state_lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (state_lock_fd_ < 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot open ", lock_path, ": ", std::strerror(errno)));
  }
  if (::flock(state_lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "another catdogd is using the state dir ", options_.state_dir, " (", lock_path, " is locked)"));
  }
  CATDOG_ASSIGN_OR_RETURN(store_, JobStore::Open(options_.state_dir + "/catdog.db"));
  model_files_ = std::make_unique<ModelFiles>(
      options_.state_dir + "/imported",
      [store = store_.get()](const std::string& job_id, const std::string& kind) {
        return store->CheckpointPath(job_id, kind);
      });
  hub_ = std::make_unique<EventHub>();

  return absl::OkStatus();
}

absl::Status Server::StartJobs() {
  JobManagerOptions job_options;
  job_options.data_root = options_.data_root;
  job_options.state_dir = options_.state_dir;
  job_options.max_concurrent_jobs = options_.max_concurrent_jobs;
  job_options.max_queued_jobs = options_.max_queued_jobs;
  job_options.default_threads = options_.threads;
  job_options.keep_checkpoints = options_.keep_checkpoints;
  job_options.job_nice = options_.job_nice;
  job_options.max_job_memory_bytes = options_.max_job_memory_gb > 0
                                         ? static_cast<int64_t>(options_.max_job_memory_gb * (1LL << 30))
                                         : PhysicalMemoryBytes() / 4 * 3;
  JobManagerDeps job_deps;
  job_deps.store = store_.get();
  job_deps.hub = hub_.get();
  job_deps.make_run = hooks_.make_run;
  job_deps.promote = [engine = engine_.get(), floor = options_.promote_min_accuracy](
                         const api::ModelId& id, double valid_accuracy) {
    return engine->PromoteIfBetter(id, valid_accuracy, floor);
  };
  job_deps.is_serving = [engine = engine_.get()](const std::string& job_id) {
    const std::shared_ptr<const ServingModel> serving = engine->Current();
    return serving != nullptr && !serving->id.is_file() && serving->id.job_id() == job_id;
  };
  CATDOG_ASSIGN_OR_RETURN(jobs_, JobManager::Create(job_options, std::move(job_deps)));

  training_service_ = std::make_unique<TrainingServiceImpl>(jobs_.get(), hub_.get(), policy_.get());
  return absl::OkStatus();
}

absl::Status Server::LoadServingModel() {
  if (watcher_ != nullptr) {
    // A replica may start before the trainer published anything.
    if (const absl::Status first = watcher_->Check(); !first.ok()) {
      spdlog::warn("nothing served yet ({}); catdog.v1.InferenceService is NOT_SERVING until {} holds a "
                   "checkpoint that loads", first, options_.model);
    }
    watcher_->Start();
    return absl::OkStatus();
  }
  // An explicit checkpoint wins over the recorded ones, and must load.
  if (!options_.serve_checkpoint.empty()) {
    return engine_->Promote(api::ModelId::File(options_.serve_checkpoint)).status();
  }
  // The newest promotion that still loads: a checkpoint deleted or damaged
  // since must not leave the server with nothing to serve.
  CATDOG_ASSIGN_OR_RETURN(std::vector<ServingRecord> promotions, store_->LoadPromotions());
  for (size_t i = 0; i < promotions.size(); ++i) {
    absl::StatusOr<api::ModelId> id = api::ModelId::Parse(promotions[i].model_id);
    const absl::Status loaded = id.ok() ? engine_->Restore(*id).status() : id.status();
    if (loaded.ok()) {
      if (i > 0) spdlog::warn("serving {}, the newest earlier promotion that loads", promotions[i].model_id);
      return absl::OkStatus();
    }
    spdlog::warn("could not serve {} again: {}", promotions[i].model_id, loaded);
  }
  if (!promotions.empty()) {
    spdlog::error("none of the {} promoted models loads; catdog.v1.InferenceService is NOT_SERVING "
                  "until a model is promoted", promotions.size());
  }
  return absl::OkStatus();
}

void Server::UpdateInferenceHealth() {
  absl::MutexLock lock(&health_mu_);
  if (grpc_server_ == nullptr || health_frozen_) return;  // Start sets it once the server exists
  grpc_server_->GetHealthCheckService()->SetServingStatus(v1::InferenceService::service_full_name(),
                                                         engine_->Current() != nullptr);
}

int Server::metrics_port() const { return metrics_ == nullptr ? 0 : metrics_->port(); }

std::string Server::address() const {
  const std::string& a = options_.listen_address;
  return absl::StrCat(a.substr(0, a.rfind(':')), ":", port_);
}

void Server::Shutdown() {
  absl::MutexLock lock(&shutdown_mu_);
  if (stopped_.HasBeenNotified()) return;
  {
    absl::MutexLock lock(&health_mu_);
    health_frozen_ = true;
  }
  if (grpc_server_ != nullptr) {
    spdlog::info("shutting down: no new work; running jobs stop at the next batch");
    grpc_server_->GetHealthCheckService()->SetServingStatus(false);
  }
  trimmer_.reset();
  watcher_.reset();  // no promotion after this
  // Scrapes read the engine and the jobs: stopped while both still exist.
  if (metrics_ != nullptr) metrics_->StopServing();
  if (jobs_ != nullptr) jobs_->Shutdown();
  if (hub_ != nullptr) hub_->Shutdown();
  if (grpc_server_ != nullptr) {
    // Waits for in-flight RPCs (Classify needs the batcher, still running).
    grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.shutdown_grace));
  }
  if (engine_ != nullptr) engine_->Shutdown();
  spdlog::info("shutdown complete");
  stopped_.Notify();
}

void Server::Wait() { stopped_.WaitForNotification(); }

}  // namespace catdog::server
