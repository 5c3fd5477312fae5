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

// Sets LibTorch's intra-op thread count for the calling thread (OpenMP keeps
// it per thread) and as the default of threads that have not run LibTorch
// yet; 0 = hardware concurrency, and more than that is capped to it. Returns
// the count in effect.
int ConfigureThreads(int threads);

// The thread count ConfigureThreads(threads) would set.
int ThreadBudget(int threads);

// The calling thread's intra-op thread count.
int IntraOpThreads();

// Keeps freed host memory in the process instead of handing every large
// tensor back to the kernel: glibc serves allocations above its mmap
// threshold (128 KiB, adapting up to 32 MiB) with a fresh mmap each time, so
// every forward pass page-faults its activations in again. Sets M_MMAP_MAX
// to 0 and a 1 GiB trim threshold, and one arena for all threads: glibc
// gives other threads arenas made of 64 MiB heaps that it unmaps when they
// empty, so tensors allocated in a worker thread (catdogd's training jobs,
// the loader's batches) were mapped and page-faulted afresh every step
// (BENCHMARKS.md has the before/after figures). Skipped (returns false) when the user set any
// MALLOC_* tuning variable or the C library is not glibc. Call once at
// start-up, before any thread allocates.
bool ConfigureHostAllocator();

// Hands free heap memory back to the kernel (glibc malloc_trim). For the end
// of one-off work whose scratch memory the tuned allocator would otherwise
// keep: loading a serving model, a finished training job. No-op elsewhere.
void ReleaseFreeHostMemory();

// One-time CUDA settings (cuDNN autotuning) when `device` is CUDA.
void ConfigureDevice(const c10::Device& device);

}  // namespace catdog::common
