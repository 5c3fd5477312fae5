// Gives freed heap memory back to the system once the server goes quiet.
//
// catdogd keeps freed memory in the process on purpose (ConfigureHostAllocator:
// no per-tensor mmap, a 1 GiB trim threshold), so a training step or a
// forward pass does not page-fault its activations in again. The price: after
// a burst (many large requests, stalled uploads whose buffers gRPC dropped,
// a model load) the resident size stayed at its peak. This thread checks
// every `interval` and, when `quiet()` has held for a whole interval and more
// than `min_free_bytes` sit free in the heap (and that changed since its last
// trim), trims it (malloc_trim).
//
// Thread-safe; the destructor stops and joins the thread. A no-op outside
// glibc.
#pragma once

#include <cstdint>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace catdog::server {

// Bytes free inside the heap (glibc's mallinfo2 fordblks); 0 when unknown.
int64_t FreeHeapBytes();

class MemoryTrimmer {
 public:
  struct Options {
    absl::Duration interval = absl::Seconds(2);
    int64_t min_free_bytes = int64_t{64} << 20;
  };
  // `quiet` is called on the trimmer's thread once per interval: true when
  // nothing trains and no request arrived since the previous call.
  MemoryTrimmer(const Options& options, std::function<bool()> quiet);
  ~MemoryTrimmer();
  MemoryTrimmer(const MemoryTrimmer&) = delete;
  MemoryTrimmer& operator=(const MemoryTrimmer&) = delete;

  int64_t checks() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t trims() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  const std::function<bool()> quiet_;
  int64_t free_after_trim_ = -1;  // the trimmer thread's own
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t checks_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t trims_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;  // last: starts after the members above
};

}  // namespace catdog::server
