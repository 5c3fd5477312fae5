#include "server/memory_trimmer.h"

#include <malloc.h>

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"

namespace catdog::server {
namespace {

// Frees `mib` MiB of heap that stays in the process, as catdogd's allocator
// settings keep it (no mmap per block, a high trim threshold).
void LeaveFreedHeap(int mib) {
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  std::vector<char*> blocks;
  for (int i = 0; i < mib; ++i) {
    blocks.push_back(static_cast<char*>(std::malloc(1 << 20)));
    std::memset(blocks.back(), 1, 1 << 20);  // resident
  }
  for (char* b : blocks) std::free(b);
}

// Waits (on the trimmer's own counters) until it has checked `n` times.
void WaitForChecks(const MemoryTrimmer& trimmer, int64_t n) {
  absl::Mutex mu;
  absl::MutexLock lock(&mu);
  while (trimmer.checks() < n) mu.AwaitWithTimeout(absl::Condition::kTrue, absl::Milliseconds(5));
}

TEST(MemoryTrimmerTest, TrimsFreedHeapOnlyWhenQuiet) {
  LeaveFreedHeap(200);
  ASSERT_GT(FreeHeapBytes(), int64_t{150} << 20);
  MemoryTrimmer::Options options;
  options.interval = absl::Milliseconds(10);
  {
    MemoryTrimmer busy(options, [] { return false; });
    WaitForChecks(busy, 3);
    EXPECT_EQ(busy.trims(), 0);
  }
  MemoryTrimmer quiet(options, [] { return true; });
  WaitForChecks(quiet, 3);
  EXPECT_EQ(quiet.trims(), 1) << "one trim, not one per interval while nothing changes";
}

}  // namespace
}  // namespace catdog::server
