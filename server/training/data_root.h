// Confinement of training datasets to the server's data root.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace catdog::server {

// Resolves `requested` (relative to `data_root`, or absolute) to a canonical
// path with every symlink followed. INVALID_ARGUMENT when empty, NOT_FOUND
// when it does not exist, PERMISSION_DENIED when it resolves outside
// `data_root` (including through a symlink or "..").
absl::StatusOr<std::string> ResolveDatasetPath(const std::string& data_root,
                                               const std::string& requested);

}  // namespace catdog::server
