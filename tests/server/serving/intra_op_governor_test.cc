#include "server/serving/intra_op_governor.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "common/ml/device.h"
#include "server/serving/dynamic_batcher.h"

namespace catdog::server {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1000);

TEST(IntraOpThreadGovernor, KeepsEveryThreadWhileThePassesGetTheCpu) {
  IntraOpThreadGovernor g({4});
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(g.Observe(absl::Milliseconds(10), absl::Microseconds(50), kStart + absl::Seconds(i)), 4);
  }
}

TEST(IntraOpThreadGovernor, SizesTheTeamToTheShareOfTheCpuItGot) {
  IntraOpThreadGovernor g({8});
  absl::Time now = kStart;
  for (int i = 0; i < 40; ++i) g.Observe(absl::Milliseconds(10), absl::Milliseconds(5), now += absl::Seconds(2));
  EXPECT_EQ(g.threads(), 4);  // waited half of each pass
  for (int i = 0; i < 40; ++i) g.Observe(absl::Milliseconds(10), absl::Milliseconds(9), now += absl::Seconds(2));
  EXPECT_EQ(g.threads(), 1);  // never fewer than one
  for (int i = 0; i < 40; ++i) g.Observe(absl::Milliseconds(10), absl::ZeroDuration(), now += absl::Seconds(2));
  EXPECT_EQ(g.threads(), 8);  // the cores are free again
}

TEST(IntraOpThreadGovernor, OnePreemptedPassDoesNotHalveTheTeam) {
  IntraOpThreadGovernor g({2});
  absl::Time now = kStart;
  EXPECT_EQ(g.Observe(absl::Milliseconds(10), absl::Milliseconds(6), now += absl::Seconds(2)), 2);
  EXPECT_EQ(g.Observe(absl::Milliseconds(10), absl::ZeroDuration(), now += absl::Seconds(2)), 2);
}

TEST(IntraOpThreadGovernor, ChangesAtMostOncePerDwell) {
  IntraOpThreadGovernor g({2, 0.5, absl::Seconds(1)});
  absl::Time now = kStart;
  EXPECT_EQ(g.Observe(absl::Milliseconds(10), absl::Milliseconds(10), now), 1);
  // The cores are free at once, but the last change was 10 ms ago.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(g.Observe(absl::Milliseconds(10), absl::ZeroDuration(), now += absl::Milliseconds(10)), 1);
  }
  EXPECT_EQ(g.Observe(absl::Milliseconds(10), absl::ZeroDuration(), now += absl::Seconds(1)), 2);
}

TEST(IntraOpThreadGovernor, IgnoresPassesOfNoDuration) {
  IntraOpThreadGovernor g({2, 1.0});
  EXPECT_EQ(g.Observe(absl::ZeroDuration(), absl::Milliseconds(5), kStart), 2);
  EXPECT_EQ(g.Observe(absl::Milliseconds(-1), absl::Milliseconds(5), kStart), 2);
}

// Busy threads, more than the cores, until destroyed.
class CpuHog {
 public:
  explicit CpuHog(int threads) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        while (!stop_.load(std::memory_order_relaxed)) {
        }
      });
    }
  }
  ~CpuHog() {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

int Cores() { return static_cast<int>(std::thread::hardware_concurrency()); }

// Spins until the calling thread has waited `wait` more for a CPU.
void SpinUntilWaited(absl::Duration wait) {
  const absl::Duration from = *ThreadRunQueueWait();
  while (*ThreadRunQueueWait() - from < wait) {
  }
}

TEST(ThreadRunQueueWait, GrowsWhileMoreBusyThreadsThanCoresRun) {
  if (!ThreadRunQueueWait()) GTEST_SKIP() << "the kernel reports no per-thread schedstat";
  CpuHog hog(2 * Cores());
  SpinUntilWaited(absl::Milliseconds(5));  // returns only if the wait grew
}

// The batcher's forward passes run on fewer threads while a hog holds the
// cores, and on all of them again once it is gone.
TEST(DynamicBatcherThreads, FewerWhileOtherThreadsHoldTheCoresAllAgainAfter) {
  if (Cores() < 2) GTEST_SKIP() << "one core: nothing to adapt";
  if (!ThreadRunQueueWait()) GTEST_SKIP() << "the kernel reports no per-thread schedstat";
  std::atomic<bool> contended{false};
  absl::Mutex mu;
  std::vector<int> threads_seen;
  BatcherOptions o;
  o.max_batch_size = 1;
  o.intra_op_threads = 2;
  o.predict = [&](const ServingModel&, const std::vector<cv::Mat>& images) {
    {
      absl::MutexLock lock(&mu);
      threads_seen.push_back(common::IntraOpThreads());
    }
    if (contended) SpinUntilWaited(absl::Milliseconds(2));
    return absl::StatusOr<std::vector<common::Prediction>>(std::vector<common::Prediction>(images.size()));
  };
  auto batcher = DynamicBatcher::Create(o);
  ASSERT_TRUE(batcher.ok());
  const auto model = std::make_shared<const ServingModel>(ServingModel{api::ModelId::File("m"), "m", nullptr});
  // One pass at a time, until the pass sees `want` threads.
  auto run_until = [&](int want) {
    for (int i = 0; i < 100000; ++i) {
      absl::BlockingCounter done(1);
      InferenceItem item;
      item.model = model;
      item.image = cv::Mat(2, 2, CV_8UC3);
      item.done = [&done](absl::StatusOr<common::Prediction>) { done.DecrementCount(); };
      std::vector<InferenceItem> items;
      items.push_back(std::move(item));
      EXPECT_TRUE((*batcher)->Enqueue(std::move(items)).ok());
      done.Wait();
      absl::MutexLock lock(&mu);
      if (threads_seen.back() == want) return true;
    }
    return false;
  };
  ASSERT_TRUE(run_until(2));
  {
    CpuHog hog(2 * Cores());
    contended = true;
    EXPECT_TRUE(run_until(1));
    contended = false;
  }
  EXPECT_TRUE(run_until(2));  // after the one-second dwell
}

}  // namespace
}  // namespace catdog::server
