// Device choice and process-wide LibTorch settings.
#pragma once

#include <string>

#include <c10/core/Device.h>

#include "absl/status/statusor.h"

namespace catdog::common {

// "auto" -> CUDA device 0 when LibTorch sees a GPU, else CPU; "cpu"; "cuda" or
// "cuda:N" -> FAILED_PRECONDITION when no such GPU exists; anything else ->
// INVALID_ARGUMENT.
absl::StatusOr<c10::Device> ResolveDevice(const std::string& requested);

// Sets LibTorch's intra-op thread count (process-wide); 0 = hardware
// concurrency. Returns the count in effect.
int ConfigureThreads(int threads);

// One-time CUDA settings (cuDNN autotuning) when `device` is CUDA.
void ConfigureDevice(const c10::Device& device);

}  // namespace catdog::common
