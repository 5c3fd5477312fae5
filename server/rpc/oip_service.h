// inference.GRPCInferenceService, the Open Inference Protocol (KServe v2), on
// the same port as catdog.v1: stock KServe and Triton clients classify with
// the served model through the same ServingEngine and dynamic batcher as
// Classify. api/oip_conversion.h says how the model maps onto the protocol.
//
// ServerLive and ServerReady stay open (no token) like grpc.health.v1, for
// probes; the other methods need the inference scope, and ModelInfer counts
// against a token's concurrent-classify quota.
#pragma once

#include "absl/time/time.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "server/rpc/authorize.h"
#include "server/rpc/inference_service.h"
#include "server/serving/serving_engine.h"

namespace catdog::server {

class OipServiceImpl final : public inference::GRPCInferenceService::CallbackService {
 public:
  // All must outlive the service. `on_finish` as InferenceServiceImpl's.
  OipServiceImpl(ServingEngine* engine, const CallPolicy* policy, std::string server_version, int max_images,
                 InferenceServiceImpl::OnFinish on_finish = nullptr)
      : engine_(engine), policy_(policy), server_version_(std::move(server_version)), max_images_(max_images),
        on_finish_(std::move(on_finish)) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context, const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context, const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest*,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;

 private:
  // The served model when `name` (and `version`, when given) name it;
  // NOT_FOUND / FAILED_PRECONDITION otherwise.
  absl::StatusOr<std::shared_ptr<const ServingModel>> Find(const std::string& name, const std::string& version) const;

  ServingEngine* const engine_;
  const CallPolicy* const policy_;
  const std::string server_version_;
  const int max_images_;
  const InferenceServiceImpl::OnFinish on_finish_;
};

}  // namespace catdog::server
