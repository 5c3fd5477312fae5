// Finishing a callback call early or unary: every status leaves through
// api::ToGrpcStatus.
#pragma once

#include <grpcpp/support/server_callback.h>
#include <grpcpp/server_context.h>

#include "absl/status/status.h"
#include "api/status_conversion.h"

namespace catdog::server {

// Finishes the call with `status` (the response already filled when OK).
inline grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(api::ToGrpcStatus(status));
  return reactor;
}

// A streaming call refused before it started: `new Refused<grpc::ServerWriteReactor<M>>(status)`.
template <typename Reactor>
class Refused final : public Reactor {
 public:
  explicit Refused(const absl::Status& status) { this->Finish(api::ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

}  // namespace catdog::server
