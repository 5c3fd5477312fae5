// catdog.v1.ModelService: lists the checkpoints the job store knows, shows
// the serving model, promotes a checkpoint to serving.
#pragma once

#include "catdog/v1/catdog.grpc.pb.h"
#include "server/job_manager.h"
#include "server/job_store.h"
#include "server/model_registry.h"

namespace catdog::server {

class ModelServiceImpl final : public v1::ModelService::Service {
 public:
  // All must outlive the service.
  ModelServiceImpl(JobStore* store, JobManager* jobs, ModelRegistry* registry)
      : store_(store), jobs_(jobs), registry_(registry) {}

  grpc::Status ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;
  grpc::Status GetServingModel(grpc::ServerContext* context, const v1::GetServingModelRequest* request,
                               v1::Model* response) override;
  grpc::Status PromoteModel(grpc::ServerContext* context, const v1::PromoteModelRequest* request,
                            v1::Model* response) override;

 private:
  JobStore* const store_;
  JobManager* const jobs_;
  ModelRegistry* const registry_;
};

}  // namespace catdog::server
