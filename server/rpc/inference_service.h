// catdog.v1.InferenceService, served through gRPC's generic callback API so
// that catdogd gets the call when its headers arrive rather than when the
// whole request has: a client that stops sending mid-request (a stalled
// upload) is ended after `upload_timeout` instead of holding its buffers
// until the connection drops. gRPC's typed unary handler offers no such hook.
//
// Classify parses the bytes itself (bytes that are not a ClassifyRequest are
// INVALID_ARGUMENT saying so), hands the request to the ServingEngine and
// returns; the engine's completion callback writes the response, so no
// thread waits per request. Any other method name is UNIMPLEMENTED.
#pragma once

#include <grpcpp/generic/async_generic_service.h>

#include "absl/time/time.h"
#include "server/rpc/authorize.h"
#include "server/serving/serving_engine.h"

namespace catdog::server {

class InferenceServiceImpl final : public grpc::CallbackGenericService {
 public:
  static constexpr const char* kClassifyMethod = "/catdog.v1.InferenceService/Classify";

  // `engine` and `policy` must outlive the service (and every call it
  // started). `upload_timeout`: how long a request may take to arrive; 0 =
  // no limit.
  // `on_finish` (optional, must not block) hears how each Classify call
  // ended and how long it took.
  using OnFinish = std::function<void(const grpc::Status&, absl::Duration)>;
  InferenceServiceImpl(ServingEngine* engine, absl::Duration upload_timeout, const CallPolicy* policy,
                       OnFinish on_finish = nullptr)
      : engine_(engine), upload_timeout_(upload_timeout), policy_(policy), on_finish_(std::move(on_finish)) {}

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* context) override;

 private:
  ServingEngine* const engine_;
  const absl::Duration upload_timeout_;
  const CallPolicy* const policy_;
  const OnFinish on_finish_;
};

}  // namespace catdog::server
