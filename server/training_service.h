// catdog.v1.TrainingService: translates between protobuf and the JobManager.
// Handlers run on gRPC's sync thread pool; WatchJob blocks its thread on the
// EventHub (waking at least every 200 ms to notice a departed client).
#pragma once

#include "catdog/v1/catdog.grpc.pb.h"
#include "server/event_hub.h"
#include "server/job_manager.h"

namespace catdog::server {

class TrainingServiceImpl final : public v1::TrainingService::Service {
 public:
  // Both must outlive the service.
  TrainingServiceImpl(JobManager* jobs, EventHub* hub) : jobs_(jobs), hub_(hub) {}

  grpc::Status StartTraining(grpc::ServerContext* context, const v1::StartTrainingRequest* request,
                             v1::Job* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                      v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::Job* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override;

 private:
  JobManager* const jobs_;
  EventHub* const hub_;
};

}  // namespace catdog::server
