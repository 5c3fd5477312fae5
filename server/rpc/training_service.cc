#include "server/rpc/training_service.h"

#include <deque>
#include <map>
#include <memory>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/status_conversion.h"
#include "api/training_conversion.h"
#include "common/data/status_macros.h"
#include "server/rpc/reply.h"

namespace catdog::server {
namespace {

// Streams a job's events: the replay, then live ones as the hub publishes
// them, until the log closes (OK), the server shuts down (UNAVAILABLE) or the
// client leaves (CANCELLED). At most one write is in flight.
//
// The hub may wake a watcher after it finished (Unsubscribe does not wait
// for a wake in progress), so the wake reaches the reactor through a shared
// Pump that outlives it and forgets the reactor once Finish is called.
class WatchReactor final : public grpc::ServerWriteReactor<v1::JobEvent> {
 public:
  WatchReactor(EventHub* hub, std::string job_id, std::vector<std::string> class_names,
               const PathRedactor* redact)
      : hub_(hub), job_id_(std::move(job_id)),
        pump_(std::make_shared<Pump>(this, std::move(class_names), redact)) {
    handle_ = hub_->Subscribe(job_id_, [pump = pump_] { pump->Run(); });
    pump_->Run();
  }

  void OnWriteDone(bool ok) override { pump_->WriteDone(ok); }
  void OnCancel() override { pump_->Cancel(); }
  void OnDone() override {
    hub_->Unsubscribe(job_id_, handle_);
    delete this;
  }

 private:
  class Pump {
   public:
    Pump(WatchReactor* reactor, std::vector<std::string> class_names, const PathRedactor* redact)
        : reactor_(reactor), class_names_(std::move(class_names)), redact_(redact) {}

    void WriteDone(bool ok) ABSL_LOCKS_EXCLUDED(mu_) {
      {
        absl::MutexLock lock(&mu_);
        writing_ = false;
        if (!ok) cancelled_ = true;  // the client is gone
      }
      Run();
    }
    void Cancel() ABSL_LOCKS_EXCLUDED(mu_) {
      {
        absl::MutexLock lock(&mu_);
        cancelled_ = true;
      }
      Run();
    }

    // Starts the next write or finishes the call, whichever is due. The
    // reactor is called outside the lock: it may react inline.
    void Run() ABSL_LOCKS_EXCLUDED(mu_) {
      WatchReactor* reactor = nullptr;
      const v1::JobEvent* write = nullptr;
      absl::Status finish;
      {
        absl::MutexLock lock(&mu_);
        if (reactor_ == nullptr || writing_) return;
        if (cancelled_) {
          finish = absl::CancelledError("watcher left");
        } else {
          EventHub::ReadResult read = reactor_->hub_->Poll(reactor_->job_id_, after_, /*max_events=*/1);
          if (!read.events.empty()) {
            after_ = read.events.front().sequence;
            next_ = api::JobEventToProto(read.events.front(), class_names_);
            if (next_.has_state()) next_.mutable_state()->set_error(redact_->Text(next_.state().error()));
            writing_ = true;
            write = &next_;
          } else if (read.closed) {
            finish = absl::OkStatus();
          } else if (reactor_->hub_->shutting_down()) {
            finish = absl::UnavailableError("server is shutting down; watch again after it restarts");
          } else {
            return;  // the next Publish wakes us
          }
        }
        reactor = reactor_;
        if (write == nullptr) reactor_ = nullptr;  // finishing: no more calls to it
      }
      if (write != nullptr) {
        reactor->StartWrite(write);
      } else {
        reactor->Finish(api::ToGrpcStatus(finish));
      }
    }

   private:
    absl::Mutex mu_;
    WatchReactor* reactor_ ABSL_GUARDED_BY(mu_);  // null once Finish was called
    const std::vector<std::string> class_names_;
    const PathRedactor* const redact_;  // outlives every call
    int64_t after_ ABSL_GUARDED_BY(mu_) = 0;  // last sequence written
    bool writing_ ABSL_GUARDED_BY(mu_) = false;
    bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
    v1::JobEvent next_;  // the message in flight; untouched while writing_
  };

  EventHub* const hub_;
  const std::string job_id_;
  const std::shared_ptr<Pump> pump_;
  int64_t handle_ = 0;
};

}  // namespace

v1::Job TrainingServiceImpl::ToProto(const common::JobInfo& job) const {
  v1::Job p = api::JobInfoToProto(job);
  p.set_error(policy_->redact.Text(p.error()));
  return p;
}

absl::StatusOr<common::JobInfo> TrainingServiceImpl::OwnJob(const common::Principal& principal,
                                                            const std::string& id, const char* action) const {
  CATDOG_ASSIGN_OR_RETURN(common::JobInfo job, jobs_->Get(id));
  if (!principal.MayModify(job.owner)) {
    if (job.owner.empty()) {
      return absl::PermissionDeniedError(absl::StrCat("job ", id, " was started without a token; only an admin ",
                                                      "token may ", action, " it"));
    }
    return absl::PermissionDeniedError(absl::StrCat("job ", id, " belongs to '", job.owner, "'; only its owner or ",
                                                    "an admin token may ", action, " it"));
  }
  return job;
}

namespace {

Submitter SubmitterOf(const common::Principal& p) {
  return Submitter{p.name, p.limits.max_active_jobs, p.limits.max_checkpoint_mb << 20};
}

}  // namespace

grpc::ServerUnaryReactor* TrainingServiceImpl::StartTraining(grpc::CallbackServerContext* context,
                                                             const v1::StartTrainingRequest* request,
                                                             v1::Job* response) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeTrain);
  absl::StatusOr<common::JobSpec> spec = api::JobSpecFromProto(request->config());
  if (!spec.ok()) return Reply(context, spec.status());
  absl::StatusOr<common::JobInfo> job = jobs_->Start(*std::move(spec), SubmitterOf(*principal));
  if (job.ok()) *response = ToProto(*job);
  return Reply(context, policy_->redact.Status(job.status()));
}

grpc::ServerUnaryReactor* TrainingServiceImpl::GetJob(grpc::CallbackServerContext* context,
                                                      const v1::GetJobRequest* request, v1::Job* response) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeTrain);
  absl::StatusOr<common::JobInfo> job = jobs_->Get(request->job_id());
  if (job.ok()) *response = ToProto(*job);
  if (job.ok() && request->with_history()) {
    // From the job's event log; a resumed job may have recorded an epoch
    // twice, and the later record is the one its checkpoints follow.
    std::map<int64_t, common::EpochMetrics> epochs;
    for (const common::JobEvent& e : hub_->Poll(job->id, 0).events) {
      if (const auto* m = std::get_if<common::EpochMetrics>(&e.payload)) epochs[m->epoch] = *m;
    }
    for (const auto& [epoch, m] : epochs) *response->add_history() = api::EpochMetricsToProto(m);
  }
  return Reply(context, job.status());
}

grpc::ServerUnaryReactor* TrainingServiceImpl::ListJobs(grpc::CallbackServerContext* context,
                                                        const v1::ListJobsRequest* request,
                                                        v1::ListJobsResponse* response) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeTrain);
  std::vector<common::JobState> states;
  for (int s : request->states()) {
    absl::StatusOr<common::JobState> state = api::JobStateFromProto(static_cast<v1::JobState>(s));
    if (!state.ok()) return Reply(context, state.status());
    states.push_back(*state);
  }
  for (const common::JobInfo& job : jobs_->List(states)) *response->add_jobs() = ToProto(job);
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* TrainingServiceImpl::CancelJob(grpc::CallbackServerContext* context,
                                                         const v1::CancelJobRequest* request,
                                                         v1::Job* response) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeTrain);
  absl::StatusOr<common::JobInfo> job = OwnJob(*principal, request->job_id(), "cancel");
  if (job.ok()) job = jobs_->Cancel(request->job_id());
  if (job.ok()) *response = ToProto(*job);
  return Reply(context, job.status());
}

grpc::ServerUnaryReactor* TrainingServiceImpl::ResumeJob(grpc::CallbackServerContext* context,
                                                         const v1::ResumeJobRequest* request,
                                                         v1::Job* response) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeTrain);
  absl::StatusOr<common::JobInfo> job = OwnJob(*principal, request->job_id(), "resume");
  if (job.ok()) job = jobs_->Resume(request->job_id(), SubmitterOf(*principal));
  if (job.ok()) *response = ToProto(*job);
  return Reply(context, policy_->redact.Status(job.status()));
}

grpc::ServerUnaryReactor* TrainingServiceImpl::DeleteJob(grpc::CallbackServerContext* context,
                                                         const v1::DeleteJobRequest* request,
                                                         v1::DeleteJobResponse*) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeTrain);
  absl::StatusOr<common::JobInfo> job = OwnJob(*principal, request->job_id(), "delete");
  return Reply(context, policy_->redact.Status(job.ok() ? jobs_->Delete(request->job_id()) : job.status()));
}

grpc::ServerWriteReactor<v1::JobEvent>* TrainingServiceImpl::WatchJob(grpc::CallbackServerContext* context,
                                                                      const v1::WatchJobRequest* request) {
  absl::StatusOr<common::Principal> principal = Authorize(policy_->tokens, *context, common::kScopeTrain);
  if (!principal.ok()) return new Refused<grpc::ServerWriteReactor<v1::JobEvent>>(principal.status());
  absl::StatusOr<common::JobInfo> job = jobs_->Get(request->job_id());
  if (!job.ok()) return new Refused<grpc::ServerWriteReactor<v1::JobEvent>>(job.status());
  return new WatchReactor(hub_, job->id, job->class_names, &policy_->redact);
}

}  // namespace catdog::server
