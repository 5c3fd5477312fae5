// Reading who a call comes from: its "authorization: Bearer <token>"
// metadata, checked against the tokens file (common/auth/tokens.h). Every
// catdog.v1 handler calls Authorize first; grpc.health.v1 stays open for
// probes. Tokens are never logged.
#pragma once

#include <grpcpp/server_context.h>

#include "absl/status/statusor.h"
#include "common/auth/tokens.h"
#include "server/rpc/redact.h"
#include "server/rpc/reply.h"

namespace catdog::server {

// What every catdog.v1 service checks and cleans its calls with.
struct CallPolicy {
  const common::TokenRegistry* tokens = nullptr;  // null: tokens off
  PathRedactor redact;
};

// `tokens` null (tokens off): the anonymous principal, allowed everything.
// UNAUTHENTICATED without a token or with an unknown one; PERMISSION_DENIED
// when the token lacks `scope`.
absl::StatusOr<common::Principal> Authorize(const common::TokenRegistry* tokens,
                                            const grpc::ServerContextBase& context, common::Scope scope);

}  // namespace catdog::server

// First line of a unary callback handler: `principal` is the caller, or the
// call is finished with the refusal.
#define CATDOG_AUTHORIZE_OR_REPLY(principal, tokens, context, scope)                                \
  absl::StatusOr<::catdog::common::Principal> principal =                                          \
      ::catdog::server::Authorize(tokens, *(context), scope);                                       \
  if (!principal.ok()) return ::catdog::server::Reply(context, principal.status())
