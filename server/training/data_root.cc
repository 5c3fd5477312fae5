#include "server/training/data_root.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/data/confinement.h"
#include "common/data/status_macros.h"

namespace catdog::server {
namespace fs = std::filesystem;

absl::StatusOr<DatasetPath> ResolveDatasetPath(const std::string& data_root, const std::string& requested) {
  if (requested.empty()) return absl::InvalidArgumentError("dataset path is empty");
  CATDOG_RETURN_IF_ERROR(common::CheckPathText(requested, "dataset path"));
  std::error_code ec;
  const fs::path root = fs::canonical(data_root, ec);
  if (ec) return absl::FailedPreconditionError("the server's data root is not accessible");
  // Not echoed when absolute: replies name no absolute path.
  const absl::Status outside = absl::PermissionDeniedError(absl::StrCat(
      "dataset path ", fs::path(requested).is_absolute() ? "" : absl::StrCat("'", requested, "' "),
      "is outside the data root; give it relative to the data root"));
  fs::path relative = fs::path(requested).lexically_normal();
  if (relative.is_absolute()) {
    // Lexically only: an absolute path elsewhere is not looked at.
    bool inside = false;
    for (const fs::path& base : {root, fs::path(data_root).lexically_normal()}) {
      if (common::IsWithin(base.string(), relative.string())) {
        relative = relative.lexically_relative(base);
        inside = true;
        break;
      }
    }
    if (!inside) return outside;
  }
  if (relative.empty() || relative == ".") relative = ".";
  if (*relative.begin() == "..") return outside;
  const std::string shown = relative.string().back() == '/' ? relative.parent_path().string() : relative.string();
  // Every existing link resolved; a path that leads out is refused whether
  // or not its target exists, so the answer says nothing about the outside.
  const fs::path resolved = fs::weakly_canonical(root / relative, ec);
  if (ec || !common::IsWithin(root.string(), resolved.string())) {
    return absl::PermissionDeniedError(
        absl::StrCat("dataset '", shown, "' leads outside the data root through a link"));
  }
  if (!fs::exists(resolved, ec)) {
    return absl::NotFoundError(absl::StrCat("dataset '", shown, "' not found under the data root"));
  }
  return DatasetPath{shown, resolved.string()};
}

}  // namespace catdog::server
