// catdog.v1.ModelService on gRPC's callback API: lists the checkpoints the
// JobManager recorded, reports and promotes the ServingEngine's model.
// Promotion loads the model on the calling gRPC thread (seconds for a big
// model): rare, and requests keep being served meanwhile. Export and import
// of PyTorch state dicts (common/ml/pytorch_interop.h) run there too; one
// import at a time, its upload bounded in size and time.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"
#include "catdog/v1/catdog.grpc.pb.h"
#include "server/rpc/authorize.h"
#include "server/serving/model_files.h"
#include "server/serving/serving_engine.h"
#include "server/training/job_manager.h"

namespace catdog::server {

struct ImportLimits {
  int64_t max_bytes = int64_t{512} << 20;
  absl::Duration upload_timeout = absl::Minutes(10);  // 0 = none
};

class ModelServiceImpl final : public v1::ModelService::CallbackService {
 public:
  // All must outlive the service.
  ModelServiceImpl(JobManager* jobs, ServingEngine* engine, const ModelFiles* files, const CallPolicy* policy,
                   ImportLimits import_limits)
      : jobs_(jobs), engine_(engine), files_(files), policy_(policy), import_limits_(import_limits) {}

  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* GetServingModel(grpc::CallbackServerContext* context,
                                            const v1::GetServingModelRequest* request,
                                            v1::Model* response) override;
  grpc::ServerUnaryReactor* PromoteModel(grpc::CallbackServerContext* context,
                                         const v1::PromoteModelRequest* request,
                                         v1::Model* response) override;
  grpc::ServerWriteReactor<v1::ModelChunk>* ExportModel(grpc::CallbackServerContext* context,
                                                        const v1::ExportModelRequest* request) override;
  grpc::ServerReadReactor<v1::ImportModelRequest>* ImportModel(grpc::CallbackServerContext* context,
                                                              v1::Model* response) override;

 private:
  class ImportReactor;

  // A model for a reply: no server path in its path or id.
  v1::Model Redacted(v1::Model model) const;

  JobManager* const jobs_;
  ServingEngine* const engine_;
  const ModelFiles* const files_;
  const CallPolicy* const policy_;
  const ImportLimits import_limits_;
  std::atomic<bool> importing_{false};
};

}  // namespace catdog::server
