// catdog.v1.InferenceService on gRPC's callback API. Classify hands the
// request to the ServingEngine and returns; the engine's completion callback
// fills the response and finishes the call, so no thread waits per request.
#pragma once

#include "catdog/v1/catdog.grpc.pb.h"
#include "server/serving/serving_engine.h"

namespace catdog::server {

class InferenceServiceImpl final : public v1::InferenceService::CallbackService {
 public:
  // Must outlive the service (and every call it started).
  explicit InferenceServiceImpl(ServingEngine* engine) : engine_(engine) {}

  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context,
                                     const v1::ClassifyRequest* request,
                                     v1::ClassifyResponse* response) override;

 private:
  ServingEngine* const engine_;
};

}  // namespace catdog::server
