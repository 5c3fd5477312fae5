// catdog.v1.ModelService on gRPC's callback API: lists the checkpoints the
// JobManager recorded, reports and promotes the ServingEngine's model.
// Promotion loads the model on the calling gRPC thread (seconds for a big
// model): rare, and requests keep being served meanwhile.
#pragma once

#include "catdog/v1/catdog.grpc.pb.h"
#include "server/rpc/authorize.h"
#include "server/serving/serving_engine.h"
#include "server/training/job_manager.h"

namespace catdog::server {

class ModelServiceImpl final : public v1::ModelService::CallbackService {
 public:
  // All must outlive the service.
  ModelServiceImpl(JobManager* jobs, ServingEngine* engine, const CallPolicy* policy)
      : jobs_(jobs), engine_(engine), policy_(policy) {}

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
  // A model for a reply: no server path in its path or id.
  v1::Model Redacted(v1::Model model) const;

  JobManager* const jobs_;
  ServingEngine* const engine_;
  const CallPolicy* const policy_;
};

}  // namespace catdog::server
