// The one mapping from absl::Status to grpc::Status. Abseil's codes are
// google.rpc.Code, the same numbers gRPC uses, so nothing is lost.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace catdog::server {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace catdog::server
