// Confinement of training datasets to the server's data root.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace catdog::server {

struct DatasetPath {
  std::string relative;  // normalised, relative to the data root: what replies show
  std::string resolved;  // canonical: what the trainer opens
};

// Resolves a client's dataset path: relative to `data_root`, or absolute
// but lexically inside it. Nothing outside the data root is looked at, so
// the errors tell nothing about files there:
// - INVALID_ARGUMENT: empty, or a NUL byte / control character in it;
// - PERMISSION_DENIED: it names a place outside (absolute elsewhere, "..",
//   or a symlink leading out), and the message does not say where a link
//   leads;
// - NOT_FOUND: it does not exist under the data root.
// Messages name the path relative to the data root only.
absl::StatusOr<DatasetPath> ResolveDatasetPath(const std::string& data_root, const std::string& requested);

}  // namespace catdog::server
