#include "server/rpc/model_service.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <thread>

#include <grpcpp/alarm.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/model_conversion.h"
#include "api/model_id.h"
#include "common/ml/device.h"
#include "common/ml/model_evaluation.h"
#include "server/rpc/reply.h"
#include "server/training/data_root.h"

namespace catdog::server {
namespace {

constexpr size_t kChunkBytes = size_t{1} << 20;

using RefusedExport = Refused<grpc::ServerWriteReactor<v1::ModelChunk>>;
using RefusedImport = Refused<grpc::ServerReadReactor<v1::ImportModelRequest>>;
using RefusedEvaluation = Refused<grpc::ServerWriteReactor<v1::EvaluationUpdate>>;

// A serving replica (catdogd --serve-only) has no job store or model files.
absl::Status OnTheTrainer(absl::string_view what) {
  return absl::FailedPreconditionError(absl::StrCat(
      "this catdogd is a serving replica (--serve-only): ", what,
      " on the trainer catdogd; replicas serve what it publishes"));
}

// Streams `bytes` in chunks, one write in flight.
class ChunkWriter final : public grpc::ServerWriteReactor<v1::ModelChunk> {
 public:
  explicit ChunkWriter(std::string bytes) : bytes_(std::move(bytes)) { Next(); }
  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client left"));
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (offset_ >= bytes_.size()) return Finish(grpc::Status::OK);
    const size_t n = std::min(kChunkBytes, bytes_.size() - offset_);
    chunk_.set_data(bytes_.substr(offset_, n));
    offset_ += n;
    StartWrite(&chunk_);
  }

  const std::string bytes_;
  size_t offset_ = 0;
  v1::ModelChunk chunk_;
};

}  // namespace

// Reads the header, then the file's bytes (bounded in size), imports on the
// client's half-close. A stalled upload is cancelled after the upload
// timeout by an alarm; the alarm may call back after the reactor is gone, so
// it reaches the call only through `Watchdog`, which the reactor closes.
class ModelServiceImpl::ImportReactor final : public grpc::ServerReadReactor<v1::ImportModelRequest> {
 public:
  ImportReactor(ModelServiceImpl* service, grpc::CallbackServerContext* context, v1::Model* response)
      : service_(service),
        context_(context),
        response_(response),
        watchdog_(std::make_shared<Watchdog>(context, &service->importing_)) {
    if (service_->options_.upload_timeout > absl::ZeroDuration()) {
      alarm_.Set(absl::ToChronoTime(absl::Now() + service_->options_.upload_timeout),
                 [watchdog = watchdog_](bool fired) {
                   if (fired) watchdog->Fire();
                 });
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      if (!watchdog_->Commit()) {
        return End(absl::DeadlineExceededError(absl::StrCat(
            "the upload did not finish within ",
            absl::FormatDuration(service_->options_.upload_timeout))));
      }
      // A client that went away mid-upload did not send the whole file.
      if (context_->IsCancelled()) return End(absl::CancelledError("the client went away"));
      return Complete();
    }
    if (!header_.has_value()) {
      if (request_.part_case() != v1::ImportModelRequest::kHeader) {
        return End(absl::InvalidArgumentError("ImportModel: send the header before the data"));
      }
      if (absl::Status fresh = service_->files_->CheckNewImport(request_.header().name()); !fresh.ok()) {
        return End(fresh);
      }
      header_ = request_.header();
    } else if (request_.part_case() == v1::ImportModelRequest::kData) {
      const int64_t total = static_cast<int64_t>(bytes_.size() + request_.data().size());
      if (total > service_->options_.max_import_bytes) {
        return End(absl::ResourceExhaustedError(absl::StrCat("the file is larger than the server's limit of ",
                                                             service_->options_.max_import_bytes >> 20,
                                                             " MiB (--max-import-mb)")));
      }
      bytes_.append(request_.data());
    } else {
      return End(absl::InvalidArgumentError("ImportModel: a second header"));
    }
    StartRead(&request_);
  }

  void OnDone() override {
    watchdog_->Close();
    alarm_.Cancel();
    watchdog_->ReleaseSlot();
    delete this;
  }

 private:
  // It also holds the import slot: a stalled upload gives the slot back as
  // the timeout cancels it, before its client can learn of the cancellation
  // and retry; an upload whose import has begun keeps it until it answers.
  class Watchdog {
   public:
    Watchdog(grpc::CallbackServerContext* context, std::atomic<bool>* slot) : context_(context), slot_(slot) {}
    void Fire() {
      absl::MutexLock lock(&mu_);
      if (context_ == nullptr) return;
      fired_ = true;
      if (!committed_) ReleaseSlotLocked();
      context_->TryCancel();
    }
    // The upload is complete: false if the timeout came first.
    bool Commit() {
      absl::MutexLock lock(&mu_);
      committed_ = !fired_;
      return committed_;
    }
    void Close() {
      absl::MutexLock lock(&mu_);
      context_ = nullptr;
    }
    void ReleaseSlot() {
      absl::MutexLock lock(&mu_);
      ReleaseSlotLocked();
    }

   private:
    void ReleaseSlotLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (holds_slot_) slot_->store(false);
      holds_slot_ = false;
    }

    absl::Mutex mu_;
    grpc::CallbackServerContext* context_ ABSL_GUARDED_BY(mu_);
    std::atomic<bool>* const slot_;
    bool holds_slot_ ABSL_GUARDED_BY(mu_) = true;
    bool fired_ ABSL_GUARDED_BY(mu_) = false;
    bool committed_ ABSL_GUARDED_BY(mu_) = false;
  };

  void Complete() {
    if (!header_.has_value()) return End(absl::InvalidArgumentError("ImportModel: no header"));
    common::ImportOptions options;
    options.class_names.assign(header_->class_names().begin(), header_->class_names().end());
    options.image_size = header_->image_size();
    if (header_->has_normalize()) options.normalize = header_->normalize();
    absl::StatusOr<common::ModelCard> card = service_->files_->Import(header_->name(), bytes_, options);
    if (!card.ok()) return End(card.status());
    const api::ModelId id = api::ModelId::Imported(header_->name());
    absl::StatusOr<std::string> path = service_->files_->Path(id);
    v1::Model model = api::ServingModelToProto(id, path.ok() ? *path : "", *card);
    model.set_serving(false);
    *response_ = service_->Redacted(std::move(model));
    End(absl::OkStatus());
  }

  void End(const absl::Status& status) {
    bytes_.clear();
    bytes_.shrink_to_fit();
    // Before the answer goes out: a client's next import must find the slot free.
    watchdog_->ReleaseSlot();
    Finish(api::ToGrpcStatus(service_->policy_->redact.Status(status)));
  }

  ModelServiceImpl* const service_;
  grpc::CallbackServerContext* const context_;
  v1::Model* const response_;
  const std::shared_ptr<Watchdog> watchdog_;
  grpc::Alarm alarm_;
  v1::ImportModelRequest request_;
  std::optional<v1::ImportModelHeader> header_;
  std::string bytes_;
};

v1::Model ModelServiceImpl::Redacted(v1::Model model) const {
  model.set_path(policy_->redact.Path(model.path()));
  model.set_id(policy_->redact.ModelId(model.id()));
  return model;
}

grpc::ServerUnaryReactor* ModelServiceImpl::ListModels(grpc::CallbackServerContext* context,
                                                       const v1::ListModelsRequest* request,
                                                       v1::ListModelsResponse* response) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeInference);
  if (jobs_ == nullptr) {  // a replica: the one model it serves
    if (const std::shared_ptr<const ServingModel> m = engine_->Current(); m != nullptr) {
      v1::Model model = api::ServingModelToProto(m->id, m->path, m->classifier->card());
      model.set_serving(true);
      *response->add_models() = Redacted(std::move(model));
    }
    return Reply(context, absl::OkStatus());
  }
  absl::StatusOr<std::vector<common::CheckpointInfo>> checkpoints = jobs_->ListCheckpoints(request->job_id());
  if (!checkpoints.ok()) return Reply(context, checkpoints.status());
  const std::shared_ptr<const ServingModel> serving = engine_->Current();
  for (const common::CheckpointInfo& c : *checkpoints) {
    absl::StatusOr<common::JobInfo> job = jobs_->Get(c.job_id);
    const bool is_serving = serving != nullptr && serving->id == api::ModelId::Checkpoint(c.job_id, c.kind);
    *response->add_models() = Redacted(api::CheckpointToProto(c, job.ok() ? &*job : nullptr, is_serving));
  }
  if (request->job_id().empty()) {
    for (const ModelFiles::Imported& m : files_->ListImported()) {
      const api::ModelId id = api::ModelId::Imported(m.name);
      v1::Model model = api::ServingModelToProto(id, m.path, m.card);
      model.set_serving(serving != nullptr && serving->id == id);
      *response->add_models() = Redacted(std::move(model));
    }
  }
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* ModelServiceImpl::GetServingModel(grpc::CallbackServerContext* context,
                                                            const v1::GetServingModelRequest*,
                                                            v1::Model* response) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeInference);
  absl::StatusOr<std::shared_ptr<const ServingModel>> serving = engine_->CurrentOrError();
  if (serving.ok()) {
    const ServingModel& m = **serving;
    *response = Redacted(api::ServingModelToProto(m.id, m.path, m.classifier->card()));
  }
  return Reply(context, serving.status());
}

grpc::ServerUnaryReactor* ModelServiceImpl::PromoteModel(grpc::CallbackServerContext* context,
                                                         const v1::PromoteModelRequest* request,
                                                         v1::Model* response) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeAdmin);
  if (files_ == nullptr) return Reply(context, OnTheTrainer("promote"));
  absl::StatusOr<api::ModelId> id = api::ModelId::Parse(request->model_id());
  if (!id.ok()) return Reply(context, id.status());
  // A file path would let any client load any file the server can read.
  if (id->is_file()) {
    return Reply(context, absl::InvalidArgumentError(
                              "only a job's checkpoint (JOB_ID/best or JOB_ID/last) or an imported model "
                              "(imported:NAME) can be promoted over the API; serve a file with catdogd "
                              "--serve-checkpoint or import it (catdogctl import)"));
  }
  absl::StatusOr<std::shared_ptr<const ServingModel>> promoted = engine_->Promote(*id);
  if (promoted.ok()) {
    const ServingModel& m = **promoted;
    *response = Redacted(api::ServingModelToProto(m.id, m.path, m.classifier->card()));
  }
  return Reply(context, policy_->redact.Status(promoted.status()));
}

// Runs one evaluation on its own thread and streams its progress (at most
// one write in flight; a newer progress replaces one not yet written), then
// the report. A client that leaves stops it at the next batch.
class ModelServiceImpl::EvaluateReactor final : public grpc::ServerWriteReactor<v1::EvaluationUpdate> {
 public:
  EvaluateReactor(ModelServiceImpl* service, std::string checkpoint, DatasetPath dataset, std::string model_id,
                  int max_mistakes)
      : service_(service) {
    worker_ = std::thread([this, checkpoint = std::move(checkpoint), dataset = std::move(dataset),
                           model_id = std::move(model_id), max_mistakes] {
      Run(checkpoint, dataset, model_id, max_mistakes);
    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) stop_.RequestStop();
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
    }
    Pump();
  }
  void OnCancel() override { stop_.RequestStop(); }
  void OnDone() override {
    // Finish may have been called on the worker thread, which may be this one.
    if (worker_.get_id() == std::this_thread::get_id()) {
      worker_.detach();
    } else {
      worker_.join();
    }
    service_->evaluating_.store(false);
    delete this;
  }

 private:
  void Run(const std::string& checkpoint, const DatasetPath& dataset, const std::string& model_id, int max_mistakes) {
    common::ConfigureThreads(service_->options_.evaluation_threads);
    const absl::Time started = absl::Now();
    absl::StatusOr<std::unique_ptr<common::Classifier>> classifier =
        common::Classifier::Load(checkpoint, service_->options_.evaluation);
    if (!classifier.ok()) return End(classifier.status());
    common::EvaluationOptions options;
    options.max_mistakes = max_mistakes;
    options.confine_root = service_->options_.data_root;
    absl::Time last_progress = absl::InfinitePast();
    absl::StatusOr<common::EvaluationReport> report = common::EvaluateOnFolder(
        **classifier, dataset.resolved, options,
        [&](int64_t done, int64_t total) {
          if (absl::Now() - last_progress < absl::Milliseconds(500) && done < total) return;
          last_progress = absl::Now();
          v1::EvaluationUpdate update;
          update.mutable_progress()->set_images_done(done);
          update.mutable_progress()->set_images_total(total);
          Post(std::move(update));
        },
        &stop_);
    if (!report.ok()) return End(report.status());
    v1::EvaluationUpdate update;
    *update.mutable_report() = api::EvaluationReportToProto(*report, (*classifier)->card().class_names);
    update.mutable_report()->set_model_id(model_id);
    update.mutable_report()->set_dataset(dataset.relative);
    update.mutable_report()->set_seconds(absl::ToDoubleSeconds(absl::Now() - started));
    {
      absl::MutexLock lock(&mu_);
      final_ = std::move(update);
      status_ = grpc::Status::OK;
      ended_ = true;
    }
    Pump();
  }

  void End(const absl::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      status_ = api::ToGrpcStatus(service_->policy_->redact.Status(status));
      ended_ = true;
    }
    Pump();
  }

  void Post(v1::EvaluationUpdate update) {
    {
      absl::MutexLock lock(&mu_);
      pending_ = std::move(update);
    }
    Pump();
  }

  // Starts the next write, or the finish, when nothing is in flight. The
  // decision is taken under the lock; the call into gRPC is made outside it.
  void Pump() {
    enum { kNothing, kWrite, kWriteAndFinish, kFinish } action = kNothing;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || finished_) return;
      if (pending_.has_value() && !ended_) {
        current_ = *std::move(pending_);
        pending_.reset();
        writing_ = true;
        action = kWrite;
      } else if (ended_) {
        finished_ = true;
        if (final_.has_value() && status_.ok()) {
          current_ = *std::move(final_);
          action = kWriteAndFinish;
        } else {
          action = kFinish;
          status = status_;
        }
      }
    }
    if (action == kWrite) StartWrite(&current_);
    if (action == kWriteAndFinish) StartWriteAndFinish(&current_, grpc::WriteOptions(), grpc::Status::OK);
    if (action == kFinish) Finish(status);
  }

  ModelServiceImpl* const service_;
  common::StopToken stop_;
  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;     // the worker is done
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // Finish called
  std::optional<v1::EvaluationUpdate> pending_ ABSL_GUARDED_BY(mu_);
  std::optional<v1::EvaluationUpdate> final_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  v1::EvaluationUpdate current_;  // the message being written
  std::thread worker_;  // last: started once the rest exists
};

grpc::ServerWriteReactor<v1::ModelChunk>* ModelServiceImpl::ExportModel(grpc::CallbackServerContext* context,
                                                                       const v1::ExportModelRequest* request) {
  absl::StatusOr<common::Principal> principal = Authorize(policy_->tokens, *context, common::kScopeTrain);
  if (!principal.ok()) return new RefusedExport(principal.status());
  if (files_ == nullptr) return new RefusedExport(OnTheTrainer("export"));
  absl::StatusOr<api::ModelId> id = api::ModelId::Parse(request->model_id());
  if (!id.ok()) return new RefusedExport(id.status());
  if (id->is_file()) return new RefusedExport(absl::InvalidArgumentError("only stored models can be exported"));
  absl::StatusOr<std::string> bytes = files_->Export(*id);
  if (!bytes.ok()) return new RefusedExport(policy_->redact.Status(bytes.status()));
  return new ChunkWriter(*std::move(bytes));
}

grpc::ServerReadReactor<v1::ImportModelRequest>* ModelServiceImpl::ImportModel(grpc::CallbackServerContext* context,
                                                                              v1::Model* response) {
  absl::StatusOr<common::Principal> principal = Authorize(policy_->tokens, *context, common::kScopeTrain);
  if (!principal.ok()) return new RefusedImport(principal.status());
  if (files_ == nullptr) return new RefusedImport(OnTheTrainer("import"));
  if (importing_.exchange(true)) {
    return new RefusedImport(
        absl::ResourceExhaustedError("another import is running; try again when it is done"));
  }
  return new ImportReactor(this, context, response);
}

grpc::ServerWriteReactor<v1::EvaluationUpdate>* ModelServiceImpl::EvaluateModel(
    grpc::CallbackServerContext* context, const v1::EvaluateModelRequest* request) {
  absl::StatusOr<common::Principal> principal = Authorize(policy_->tokens, *context, common::kScopeTrain);
  if (!principal.ok()) return new RefusedEvaluation(principal.status());
  if (files_ == nullptr) return new RefusedEvaluation(OnTheTrainer("evaluate"));
  absl::StatusOr<api::ModelId> id = api::ModelId::Parse(request->model_id());
  if (!id.ok()) return new RefusedEvaluation(id.status());
  if (id->is_file()) return new RefusedEvaluation(absl::InvalidArgumentError("only stored models can be evaluated"));
  absl::StatusOr<std::string> checkpoint = files_->Path(*id);
  if (!checkpoint.ok()) return new RefusedEvaluation(policy_->redact.Status(checkpoint.status()));
  absl::StatusOr<DatasetPath> dataset = ResolveDatasetPath(options_.data_root, request->dataset());
  if (!dataset.ok()) return new RefusedEvaluation(dataset.status());
  if (request->max_mistakes() < 0 || request->max_mistakes() > 256) {
    return new RefusedEvaluation(absl::InvalidArgumentError("max_mistakes must be in 0..256"));
  }
  if (evaluating_.exchange(true)) {
    return new RefusedEvaluation(
        absl::ResourceExhaustedError("another evaluation is running; try again when it is done"));
  }
  return new EvaluateReactor(this, *std::move(checkpoint), *std::move(dataset), id->ToString(),
                             request->max_mistakes() > 0 ? request->max_mistakes() : 16);
}

}  // namespace catdog::server
