#include "server/memory_trimmer.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <spdlog/spdlog.h>

namespace catdog::server {

int64_t FreeHeapBytes() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  return static_cast<int64_t>(mallinfo2().fordblks);
#else
  return 0;
#endif
}

MemoryTrimmer::MemoryTrimmer(const Options& options, std::function<bool()> quiet)
    : options_(options), quiet_(std::move(quiet)), thread_([this] { Loop(); }) {}

MemoryTrimmer::~MemoryTrimmer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

int64_t MemoryTrimmer::checks() const {
  absl::MutexLock lock(&mu_);
  return checks_;
}

int64_t MemoryTrimmer::trims() const {
  absl::MutexLock lock(&mu_);
  return trims_;
}

void MemoryTrimmer::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      const auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.interval)) return;
    }
    bool trimmed = false;
    // Trimmed pages stay free chunks of the heap, so the free size alone
    // would trim again every interval: only a change since the last trim
    // (memory freed since) is worth one.
    if (quiet_()) {
      const int64_t free_bytes = FreeHeapBytes();
      if (free_bytes > options_.min_free_bytes && free_bytes != free_after_trim_) {
#if defined(__GLIBC__)
        malloc_trim(0);
        trimmed = true;
#endif
        free_after_trim_ = FreeHeapBytes();
        spdlog::debug("idle: returned up to {} MiB of freed heap memory", free_bytes >> 20);
      }
    }
    absl::MutexLock lock(&mu_);
    ++checks_;
    if (trimmed) ++trims_;
  }
}

}  // namespace catdog::server
