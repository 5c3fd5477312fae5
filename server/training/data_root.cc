#include "server/training/data_root.h"

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace catdog::server {
namespace fs = std::filesystem;

absl::StatusOr<std::string> ResolveDatasetPath(const std::string& data_root,
                                               const std::string& requested) {
  if (requested.empty()) return absl::InvalidArgumentError("dataset path is empty");
  std::error_code ec;
  const fs::path root = fs::canonical(data_root, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("data root ", data_root, " is not accessible: ", ec.message()));
  const fs::path candidate = fs::path(requested).is_absolute() ? fs::path(requested) : root / requested;
  const fs::path resolved = fs::canonical(candidate, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat("dataset ", requested, " not found under the data root ",
                                            root.string()));
  }
  const std::string r = resolved.string(), base = root.string();
  const bool inside = r == base || (r.size() > base.size() && r.compare(0, base.size(), base) == 0 &&
                                    (base.back() == '/' || r[base.size()] == '/'));
  if (!inside) {
    return absl::PermissionDeniedError(absl::StrCat("dataset ", requested, " resolves to ", r,
                                                    ", outside the data root ", base));
  }
  return r;
}

}  // namespace catdog::server
