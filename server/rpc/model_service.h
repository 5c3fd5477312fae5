// catdog.v1.ModelService on gRPC's callback API: lists the checkpoints the
// JobManager recorded, reports and promotes the ServingEngine's model.
// Promotion loads the model on the calling gRPC thread (seconds for a big
// model): rare, and requests keep being served meanwhile. Export and import
// of PyTorch state dicts (common/ml/pytorch_interop.h) run there too; one
// import at a time, its upload bounded in size and time. An evaluation runs
// on a thread of its own, one at a time, streaming its progress.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "catdog/v1/catdog.grpc.pb.h"
#include "server/rpc/authorize.h"
#include "server/serving/model_files.h"
#include "server/serving/serving_engine.h"
#include "server/training/job_manager.h"

namespace catdog::server {

struct ModelServiceOptions {
  int64_t max_import_bytes = int64_t{512} << 20;
  absl::Duration upload_timeout = absl::Minutes(10);  // for an import; 0 = none
  std::string data_root;                 // where EvaluateModel's datasets are
  common::ClassifierOptions evaluation;  // device of evaluations
  int evaluation_threads = 0;            // intra-op threads of an evaluation; 0 = all cores
};

class ModelServiceImpl final : public v1::ModelService::CallbackService {
 public:
  // All must outlive the service. `jobs` and `files` are null on a serving
  // replica: it lists and reports its one model and refuses the rest
  // (FAILED_PRECONDITION).
  ModelServiceImpl(JobManager* jobs, ServingEngine* engine, const ModelFiles* files, const CallPolicy* policy,
                   ModelServiceOptions options)
      : jobs_(jobs), engine_(engine), files_(files), policy_(policy), options_(std::move(options)) {}

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
  grpc::ServerWriteReactor<v1::EvaluationUpdate>* EvaluateModel(grpc::CallbackServerContext* context,
                                                               const v1::EvaluateModelRequest* request) override;

 private:
  class ImportReactor;
  class EvaluateReactor;

  // A model for a reply: no server path in its path or id.
  v1::Model Redacted(v1::Model model) const;

  JobManager* const jobs_;
  ServingEngine* const engine_;
  const ModelFiles* const files_;
  const CallPolicy* const policy_;
  const ModelServiceOptions options_;
  std::atomic<bool> importing_{false};
  std::atomic<bool> evaluating_{false};
};

}  // namespace catdog::server
