// Numeric precision of training and serving compute. LibTorch-free.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace catdog::common {

enum class Precision {
  kFp32,  // the reference recipe
  kBf16,  // bfloat16 autocast (training) / weights (serving): CUDA, or CPU for training
  kFp16,  // float16 autocast with dynamic loss scaling (training) / weights (serving): CUDA only
};

// "fp32" | "bf16" | "fp16"; anything else -> INVALID_ARGUMENT.
absl::StatusOr<Precision> ParsePrecision(std::string_view name);
std::string PrecisionName(Precision precision);

}  // namespace catdog::common
