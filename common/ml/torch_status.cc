#include "common/ml/torch_status.h"

#include <string>

#include <spdlog/spdlog.h>

namespace catdog::common {

absl::Status StatusFromTorchError(const c10::Error& error, std::string_view context,
                                  absl::StatusCode code) {
  spdlog::debug("LibTorch error in {}: {}", context, error.what());
  if (dynamic_cast<const c10::OutOfMemoryError*>(&error) != nullptr) {
    code = absl::StatusCode::kResourceExhausted;
  }
  return absl::Status(code, std::string(context) + ": " + error.what_without_backtrace());
}

}  // namespace catdog::common
