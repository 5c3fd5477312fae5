// catdog.v1.TrainingService on gRPC's callback API: translates between the
// protos and the JobManager. WatchJob holds no thread while it waits: a
// reactor per watcher is woken by the EventHub when its job publishes.
#pragma once

#include "catdog/v1/catdog.grpc.pb.h"
#include "server/rpc/authorize.h"
#include "server/training/event_hub.h"
#include "server/training/job_manager.h"

namespace catdog::server {

class TrainingServiceImpl final : public v1::TrainingService::CallbackService {
 public:
  // All must outlive the service (and every call it started).
  TrainingServiceImpl(JobManager* jobs, EventHub* hub, const CallPolicy* policy)
      : jobs_(jobs), hub_(hub), policy_(policy) {}

  grpc::ServerUnaryReactor* StartTraining(grpc::CallbackServerContext* context,
                                          const v1::StartTrainingRequest* request,
                                          v1::Job* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context, const v1::GetJobRequest* request,
                                   v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const v1::CancelJobRequest* request, v1::Job* response) override;
  grpc::ServerUnaryReactor* ResumeJob(grpc::CallbackServerContext* context,
                                      const v1::ResumeJobRequest* request, v1::Job* response) override;
  grpc::ServerUnaryReactor* DeleteJob(grpc::CallbackServerContext* context,
                                      const v1::DeleteJobRequest* request, v1::DeleteJobResponse* response) override;
  grpc::ServerWriteReactor<v1::JobEvent>* WatchJob(grpc::CallbackServerContext* context,
                                                   const v1::WatchJobRequest* request) override;

 private:
  // The job `id` when `principal` may change it (its owner, an admin, or
  // anyone with tokens off); PERMISSION_DENIED naming the owner otherwise.
  absl::StatusOr<common::JobInfo> OwnJob(const common::Principal& principal, const std::string& id,
                                         const char* action) const;
  v1::Job ToProto(const common::JobInfo& job) const;

  JobManager* const jobs_;
  EventHub* const hub_;
  const CallPolicy* const policy_;
};

}  // namespace catdog::server
