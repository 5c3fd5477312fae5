// catdog.v1.InferenceService on gRPC's callback API. Classify hands the
// request to the ServingEngine and returns; the engine's completion callback
// fills the response and finishes the call, so no thread waits per request.
//
// Classify takes the raw bytes and parses them itself: request bytes that
// are not a ClassifyRequest are INVALID_ARGUMENT saying so, where gRPC's
// typed handler answered UNIMPLEMENTED with an empty message.
#pragma once

#include "catdog/v1/catdog.grpc.pb.h"
#include "server/serving/serving_engine.h"

namespace catdog::server {

class InferenceServiceImpl final
    : public v1::InferenceService::WithRawCallbackMethod_Classify<v1::InferenceService::Service> {
 public:
  // Must outlive the service (and every call it started).
  explicit InferenceServiceImpl(ServingEngine* engine) : engine_(engine) {}

  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;

 private:
  ServingEngine* const engine_;
};

}  // namespace catdog::server
