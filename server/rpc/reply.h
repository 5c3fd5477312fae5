// Finishing a unary callback call: every status leaves through
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

}  // namespace catdog::server
