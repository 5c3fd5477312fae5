// The one mapping between absl::Status and grpc::Status. Abseil's codes are
// google.rpc.Code, the same numbers gRPC uses, so nothing is lost either way.
// Every error a catdog service returns leaves through ToGrpcStatus.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace catdog::api {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace catdog::api
