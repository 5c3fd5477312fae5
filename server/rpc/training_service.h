// catdog.v1.TrainingService on gRPC's callback API: translates between the
// protos and the JobManager. WatchJob holds no thread while it waits: a
// reactor per watcher is woken by the EventHub when its job publishes.
#pragma once

#include "catdog/v1/catdog.grpc.pb.h"
#include "server/training/event_hub.h"
#include "server/training/job_manager.h"

namespace catdog::server {

class TrainingServiceImpl final : public v1::TrainingService::CallbackService {
 public:
  // Both must outlive the service (and every call it started).
  TrainingServiceImpl(JobManager* jobs, EventHub* hub) : jobs_(jobs), hub_(hub) {}

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
  grpc::ServerWriteReactor<v1::JobEvent>* WatchJob(grpc::CallbackServerContext* context,
                                                   const v1::WatchJobRequest* request) override;

 private:
  JobManager* const jobs_;
  EventHub* const hub_;
};

}  // namespace catdog::server
