#include "server/training_service.h"

#include "absl/time/clock.h"
#include "server/proto_conversion.h"
#include "server/status_conversion.h"

namespace catdog::server {
namespace {
// How often a blocked WatchJob checks whether its client went away; the sync
// API has no cancellation callback.
constexpr absl::Duration kWatchRecheck = absl::Milliseconds(200);
}  // namespace

grpc::Status TrainingServiceImpl::StartTraining(grpc::ServerContext*,
                                                const v1::StartTrainingRequest* request,
                                                v1::Job* response) {
  if (request->config().dataset().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "config.dataset is required (a folder under the server's --data-root)");
  }
  absl::StatusOr<JobInfo> job = jobs_->Start(JobSpecFromProto(request->config()));
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response = JobInfoToProto(*job);
  return grpc::Status::OK;
}

grpc::Status TrainingServiceImpl::GetJob(grpc::ServerContext*, const v1::GetJobRequest* request,
                                         v1::Job* response) {
  absl::StatusOr<JobInfo> job = jobs_->Get(request->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response = JobInfoToProto(*job);
  return grpc::Status::OK;
}

grpc::Status TrainingServiceImpl::ListJobs(grpc::ServerContext*, const v1::ListJobsRequest* request,
                                           v1::ListJobsResponse* response) {
  std::vector<JobState> states;
  for (int s : request->states()) {
    absl::StatusOr<JobState> state = JobStateFromProto(static_cast<v1::JobState>(s));
    if (!state.ok()) return ToGrpcStatus(state.status());
    states.push_back(*state);
  }
  for (const JobInfo& job : jobs_->List(states)) *response->add_jobs() = JobInfoToProto(job);
  return grpc::Status::OK;
}

grpc::Status TrainingServiceImpl::CancelJob(grpc::ServerContext*, const v1::CancelJobRequest* request,
                                            v1::Job* response) {
  absl::StatusOr<JobInfo> job = jobs_->Cancel(request->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response = JobInfoToProto(*job);
  return grpc::Status::OK;
}

grpc::Status TrainingServiceImpl::WatchJob(grpc::ServerContext* context,
                                           const v1::WatchJobRequest* request,
                                           grpc::ServerWriter<v1::JobEvent>* writer) {
  absl::StatusOr<JobInfo> job = jobs_->Get(request->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  int64_t after = 0;
  while (true) {
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "watcher left");
    EventHub::ReadResult read = hub_->Read(job->id, after, absl::Now() + kWatchRecheck);
    for (const JobEvent& event : read.events) {
      if (!writer->Write(JobEventToProto(event, job->class_names))) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "watcher left");
      }
      after = event.sequence;
    }
    if (read.closed) return grpc::Status::OK;
    if (hub_->shutting_down()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "server is shutting down; watch again after it restarts");
    }
  }
}

}  // namespace catdog::server
