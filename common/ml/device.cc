#include "common/ml/device.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/utils.h>
#include <ATen/Context.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace catdog::common {

absl::StatusOr<c10::Device> ResolveDevice(const std::string& requested) {
  const bool has_cuda = torch::cuda::is_available();
  if (requested == "auto") return has_cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (requested == "cpu") return c10::Device(c10::kCPU);
  if (requested == "cuda" || requested.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (requested.size() > 5 && !absl::SimpleAtoi(requested.substr(5), &index)) {
      return absl::InvalidArgumentError(absl::StrCat("bad device '", requested, "' (auto, cpu, cuda or cuda:N)"));
    }
    const auto count = static_cast<int>(torch::cuda::device_count());
    if (!has_cuda || index < 0 || index >= count) {
      return absl::FailedPreconditionError(absl::StrCat(
          "device '", requested, "' requested but LibTorch sees ", count,
          " CUDA device(s); use --device=cpu or auto"));
    }
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("bad device '", requested, "' (auto, cpu, cuda or cuda:N)"));
}

int ThreadBudget(int threads) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // More intra-op threads than cores only adds contention, and the pool
  // never shrinks: a job's --threads 1024 left 2064 threads in catdogd.
  return threads > 0 ? std::min(threads, cores) : cores;
}

int ConfigureThreads(int threads) {
  const int n = ThreadBudget(threads);
  if (threads > n) spdlog::warn("{} intra-op threads asked for; using the {} cores", threads, n);
  torch::set_num_threads(n);
  return torch::get_num_threads();
}

int IntraOpThreads() { return torch::get_num_threads(); }

bool ConfigureHostAllocator() {
#if defined(__GLIBC__)
  for (const char* var : {"MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                          "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX", "MALLOC_ARENA_TEST", "GLIBC_TUNABLES"}) {
    if (std::getenv(var) != nullptr) return false;
  }
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 &&
         mallopt(M_ARENA_MAX, 1) == 1;
#else
  return false;
#endif
}

void ReleaseFreeHostMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

void ConfigureDevice(const c10::Device& device) {
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
}

}  // namespace catdog::common
