#include "common/ml/device.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <malloc.h>

#include <gtest/gtest.h>

namespace catdog::common {
namespace {

TEST(DeviceTest, CpuAlwaysResolves) {
  auto device = ResolveDevice("cpu");
  ASSERT_TRUE(device.ok());
  EXPECT_TRUE(device->is_cpu());
}

TEST(DeviceTest, BadNamesAreInvalidArgument) {
  EXPECT_EQ(ResolveDevice("tpu").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveDevice("cuda:x").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DeviceTest, ThreadCountIsAppliedAndCappedAtTheCores) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(ConfigureThreads(2), std::min(2, cores));
  EXPECT_EQ(ConfigureThreads(1), 1);
  EXPECT_EQ(ConfigureThreads(1024), cores);
  EXPECT_EQ(ConfigureThreads(0), cores);
}

#if defined(__GLIBC__)
TEST(DeviceTest, TunedAllocatorServesLargeBlocksWithoutMmap) {
  if (std::getenv("MALLOC_MMAP_MAX_") != nullptr || std::getenv("GLIBC_TUNABLES") != nullptr) {
    GTEST_SKIP() << "malloc tuning set by the environment";
  }
  ASSERT_TRUE(ConfigureHostAllocator());
  // 64 MiB: far above glibc's default mmap threshold (128 KiB, at most 32 MiB).
  // Blocks mapped earlier in this process stay counted, so compare.
  const size_t mapped_before = mallinfo2().hblks;
  void* block = std::malloc(64 << 20);
  ASSERT_NE(block, nullptr);
  const size_t mapped_after = mallinfo2().hblks;
  std::free(block);
  EXPECT_EQ(mapped_after, mapped_before) << "the large block came from mmap";
}

// Arenas glibc has made so far: malloc_info lists each as <heap nr="...">.
int ArenaCount() {
  char* text = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&text, &size);
  malloc_info(0, out);
  std::fclose(out);
  const std::string xml(text, size);
  std::free(text);
  int count = 0;
  for (size_t at = xml.find("<heap nr="); at != std::string::npos; at = xml.find("<heap nr=", at + 1)) {
    ++count;
  }
  return count;
}

TEST(DeviceDeathTest, WorkerThreadsAllocateFromTheOneArena) {
  if (std::getenv("MALLOC_ARENA_MAX") != nullptr || std::getenv("GLIBC_TUNABLES") != nullptr) {
    GTEST_SKIP() << "malloc tuning set by the environment";
  }
  // In a fresh process (the threadsafe style re-executes the test binary), as
  // at start-up: a worker thread's first allocation would create an arena.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        const bool tuned = ConfigureHostAllocator();
        std::thread([] { std::free(std::malloc(1 << 20)); }).join();
        std::exit(tuned && ArenaCount() == 1 ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}
#endif

}  // namespace
}  // namespace catdog::common
