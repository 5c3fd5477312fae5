// catdog.v1.ModelService on gRPC's callback API: lists the checkpoints the
// JobManager recorded, reports and promotes the ServingEngine's model.
// Promotion loads the model on the calling gRPC thread (seconds for a big
// model): rare, and requests keep being served meanwhile.
#pragma once

#include "catdog/v1/catdog.grpc.pb.h"
#include "server/serving/serving_engine.h"
#include "server/training/job_manager.h"

namespace catdog::server {

class ModelServiceImpl final : public v1::ModelService::CallbackService {
 public:
  // Both must outlive the service.
  ModelServiceImpl(JobManager* jobs, ServingEngine* engine) : jobs_(jobs), engine_(engine) {}

  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* GetServingModel(grpc::CallbackServerContext* context,
                                            const v1::GetServingModelRequest* request,
                                            v1::Model* response) override;
  grpc::ServerUnaryReactor* PromoteModel(grpc::CallbackServerContext* context,
                                         const v1::PromoteModelRequest* request,
                                         v1::Model* response) override;

 private:
  JobManager* const jobs_;
  ServingEngine* const engine_;
};

}  // namespace catdog::server
