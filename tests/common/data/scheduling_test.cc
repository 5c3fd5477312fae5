#include "common/data/scheduling.h"

#include <thread>

#include <gtest/gtest.h>

namespace catdog::common {
namespace {

TEST(SchedulingTest, NiceValuesOutsideTheKernelsRangeAreRefused) {
  EXPECT_EQ(SetThreadNice(-21).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SetThreadNice(20).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SchedulingTest, ANiceValueReachesLaterThreadsOnly) {
  const int start = ThreadNice().value();
  if (start > 15) GTEST_SKIP() << "the test already runs at nice " << start;
  absl::Status set;
  absl::StatusOr<int> after, child;
  // On a thread of its own, so the test's main thread keeps its value.
  std::thread([&] {
    set = SetThreadNice(start + 3);  // raising it needs no privilege
    after = ThreadNice();
    std::thread([&] { child = ThreadNice(); }).join();
  }).join();
  ASSERT_TRUE(set.ok()) << set;
  EXPECT_EQ(after.value(), start + 3);
  EXPECT_EQ(child.value(), start + 3) << "a thread started later did not inherit it";
  EXPECT_EQ(ThreadNice().value(), start) << "it reached a thread that existed before";
}

TEST(SchedulingTest, LoweringItWithoutThePrivilegeSaysWhatIsNeeded) {
  absl::Status raised, lowered;
  std::thread([&] {
    raised = SetThreadNice(19);
    lowered = SetThreadNice(-20);
  }).join();
  ASSERT_TRUE(raised.ok()) << raised;
  if (lowered.ok()) GTEST_SKIP() << "this process may raise priorities (CAP_SYS_NICE or RLIMIT_NICE)";
  EXPECT_EQ(lowered.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(lowered.message().find("CAP_SYS_NICE"), std::string::npos) << lowered;
}

}  // namespace
}  // namespace catdog::common
