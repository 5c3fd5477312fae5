#include "server/rpc/authorize.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace catdog::server {

absl::StatusOr<common::Principal> Authorize(const common::TokenRegistry* tokens,
                                            const grpc::ServerContextBase& context, common::Scope scope) {
  if (tokens == nullptr) return common::Principal{};
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "this server needs a token: catdogctl --token (or CATDOG_TOKEN), or 'authorization: Bearer <token>' "
        "metadata");
  }
  const absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWithIgnoreCase(value, kBearer)) {
    return absl::UnauthenticatedError("the authorization metadata must be 'Bearer <token>'");
  }
  absl::StatusOr<common::Principal> principal = tokens->Authenticate(value.substr(kBearer.size()));
  if (!principal.ok()) return principal.status();
  if (!principal->Has(scope)) {
    return absl::PermissionDeniedError(absl::StrCat("token '", principal->name, "' has scopes ",
                                                    common::ScopesToString(principal->scopes), "; this call needs ",
                                                    common::ScopeName(scope)));
  }
  return principal;
}

}  // namespace catdog::server
