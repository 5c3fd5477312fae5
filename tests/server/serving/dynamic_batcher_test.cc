#include "server/serving/dynamic_batcher.h"

#include <atomic>

#include <gtest/gtest.h>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"

namespace catdog::server {
namespace {

// A fake forward pass: records batch sizes, predicts class = pixel(0,0)[0] % 2,
// and can hold every batch until released.
class FakeModel {
 public:
  BatcherOptions Options(int max_batch, absl::Duration delay, int max_queue = 1024) {
    BatcherOptions o;
    o.max_batch_size = max_batch;
    o.max_queue_delay = delay;
    o.max_queue_size = max_queue;
    o.predict = [this](const ServingModel&, const std::vector<cv::Mat>& images) {
      if (!entered_.HasBeenNotified()) entered_.Notify();
      if (hold_) release_.WaitForNotification();
      absl::MutexLock lock(&mu_);
      sizes_.push_back(static_cast<int>(images.size()));
      std::vector<common::Prediction> out;
      for (const cv::Mat& m : images) {
        common::Prediction p;
        p.class_index = m.at<cv::Vec3b>(0, 0)[0] % 2;
        p.probabilities = {p.class_index == 0 ? 1.0f : 0.0f, p.class_index == 1 ? 1.0f : 0.0f};
        out.push_back(p);
      }
      return absl::StatusOr<std::vector<common::Prediction>>(out);
    };
    return o;
  }
  std::vector<int> sizes() {
    absl::MutexLock lock(&mu_);
    return sizes_;
  }
  void Hold() { hold_ = true; }
  void Release() { release_.Notify(); }
  // Returns once the first batch is inside the forward pass (off the queue).
  void WaitUntilComputing() { entered_.WaitForNotification(); }

 private:
  absl::Mutex mu_;
  std::vector<int> sizes_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> hold_{false};
  absl::Notification release_;
  absl::Notification entered_;
};

struct Collected {
  absl::Mutex mu;
  std::vector<absl::StatusOr<common::Prediction>> results ABSL_GUARDED_BY(mu);
};

std::vector<InferenceItem> Items(int n, std::shared_ptr<const ServingModel> model,
                                 Collected* out, absl::BlockingCounter* done, int value = 1) {
  std::vector<InferenceItem> items;
  for (int i = 0; i < n; ++i) {
    InferenceItem item;
    item.model = model;
    item.image = cv::Mat(2, 2, CV_8UC3, cv::Scalar(value, 0, 0));
    item.done = [out, done](absl::StatusOr<common::Prediction> p) {
      {
        absl::MutexLock lock(&out->mu);
        out->results.push_back(std::move(p));
      }
      done->DecrementCount();
    };
    items.push_back(std::move(item));
  }
  return items;
}

const auto kModel = std::make_shared<const ServingModel>(ServingModel{api::ModelId::File("m"), "m", nullptr});

TEST(DecideBatchTest, FlushesAtMaxBatchSize) {
  BatcherOptions o;
  o.max_batch_size = 4;
  o.max_queue_delay = absl::Milliseconds(10);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_TRUE(DecideBatch(4, t0, t0, o).flush);
  EXPECT_TRUE(DecideBatch(9, t0, t0, o).flush);
}

TEST(DecideBatchTest, WaitsUntilOldestItemIsDue) {
  BatcherOptions o;
  o.max_batch_size = 4;
  o.max_queue_delay = absl::Milliseconds(10);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  const BatchDecision d = DecideBatch(3, t0, t0 + absl::Milliseconds(4), o);
  EXPECT_FALSE(d.flush);
  EXPECT_EQ(d.wake_at, t0 + absl::Milliseconds(10));
  EXPECT_TRUE(DecideBatch(3, t0, t0 + absl::Milliseconds(10), o).flush);
  EXPECT_FALSE(DecideBatch(0, t0, t0 + absl::Seconds(5), o).flush);
}

TEST(DecideBatchTest, ZeroDelayFlushesImmediately) {
  BatcherOptions o;
  o.max_queue_delay = absl::ZeroDuration();
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_TRUE(DecideBatch(1, t0, t0, o).flush);
}

TEST(DynamicBatcherTest, CoalescesUpToMaxBatchSize) {
  FakeModel fake;
  auto batcher = DynamicBatcher::Create(fake.Options(4, absl::Hours(1)));
  ASSERT_TRUE(batcher.ok());
  Collected out;
  absl::BlockingCounter done(8);
  ASSERT_TRUE((*batcher)->Enqueue(Items(8, kModel, &out, &done)).ok());
  done.Wait();  // an hour's delay: only full batches can have flushed
  EXPECT_EQ(fake.sizes(), (std::vector<int>{4, 4}));
  const BatcherStats stats = (*batcher)->stats();
  EXPECT_EQ(stats.images, 8);
  EXPECT_EQ(stats.batches, 2);
  EXPECT_EQ(stats.batch_sizes.at(4), 2);
}

TEST(DynamicBatcherTest, PartialBatchFlushesAfterDelay) {
  FakeModel fake;
  auto batcher = DynamicBatcher::Create(fake.Options(16, absl::Milliseconds(1)));
  ASSERT_TRUE(batcher.ok());
  Collected out;
  absl::BlockingCounter done(3);
  ASSERT_TRUE((*batcher)->Enqueue(Items(3, kModel, &out, &done, 1)).ok());
  done.Wait();
  EXPECT_EQ(fake.sizes(), (std::vector<int>{3}));
  absl::MutexLock lock(&out.mu);
  for (const auto& r : out.results) {
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->class_index, 1);
  }
}

TEST(DynamicBatcherTest, RejectsWhenQueueFull) {
  FakeModel fake;
  fake.Hold();  // the first batch blocks, so the queue fills
  auto batcher = DynamicBatcher::Create(fake.Options(2, absl::ZeroDuration(), 4));
  ASSERT_TRUE(batcher.ok());
  Collected out;
  absl::BlockingCounter done(6);
  ASSERT_TRUE((*batcher)->Enqueue(Items(2, kModel, &out, &done)).ok());
  fake.WaitUntilComputing();  // those two are off the queue now
  EXPECT_TRUE((*batcher)->HasRoomFor(4));
  ASSERT_TRUE((*batcher)->Enqueue(Items(4, kModel, &out, &done)).ok());
  Collected rejected_out;
  absl::BlockingCounter unused(1);
  EXPECT_FALSE((*batcher)->HasRoomFor(1));
  const absl::Status full = (*batcher)->Enqueue(Items(1, kModel, &rejected_out, &unused));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*batcher)->stats().rejected, 1);
  fake.Release();
  done.Wait();
}

TEST(DynamicBatcherTest, DropsExpiredAndCancelledItems) {
  FakeModel fake;
  auto batcher = DynamicBatcher::Create(fake.Options(8, absl::ZeroDuration()));
  ASSERT_TRUE(batcher.ok());
  Collected out;
  absl::BlockingCounter done(3);
  auto items = Items(3, kModel, &out, &done);
  items[0].deadline = absl::Now() - absl::Seconds(1);
  items[1].cancelled = [] { return true; };
  ASSERT_TRUE((*batcher)->Enqueue(std::move(items)).ok());
  done.Wait();
  EXPECT_EQ(fake.sizes(), (std::vector<int>{1}));  // only the live item was computed
  EXPECT_EQ((*batcher)->stats().expired, 2);
  absl::MutexLock lock(&out.mu);
  int deadline = 0, cancelled = 0, ok = 0;
  for (const auto& r : out.results) {
    deadline += r.status().code() == absl::StatusCode::kDeadlineExceeded;
    cancelled += r.status().code() == absl::StatusCode::kCancelled;
    ok += r.ok();
  }
  EXPECT_EQ(deadline, 1);
  EXPECT_EQ(cancelled, 1);
  EXPECT_EQ(ok, 1);
}

TEST(DynamicBatcherTest, NeverMixesModelsInOneBatch) {
  FakeModel fake;
  fake.Hold();
  auto batcher = DynamicBatcher::Create(fake.Options(8, absl::ZeroDuration()));
  ASSERT_TRUE(batcher.ok());
  auto other = std::make_shared<const ServingModel>(ServingModel{api::ModelId::File("other"), "other", nullptr});
  Collected out;
  absl::BlockingCounter done(7);
  ASSERT_TRUE((*batcher)->Enqueue(Items(1, kModel, &out, &done)).ok());
  fake.WaitUntilComputing();
  // While the first batch is held: a, b, a, b, a, b queue up.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*batcher)->Enqueue(Items(1, kModel, &out, &done)).ok());
    ASSERT_TRUE((*batcher)->Enqueue(Items(1, other, &out, &done)).ok());
  }
  fake.Release();
  done.Wait();
  EXPECT_EQ(fake.sizes(), (std::vector<int>{1, 3, 3}));
}

TEST(DynamicBatcherTest, DrainsQueueOnShutdownThenRefuses) {
  FakeModel fake;
  auto batcher = DynamicBatcher::Create(fake.Options(4, absl::Hours(1)));
  ASSERT_TRUE(batcher.ok());
  Collected out;
  absl::BlockingCounter done(3);
  ASSERT_TRUE((*batcher)->Enqueue(Items(3, kModel, &out, &done)).ok());
  (*batcher)->Shutdown();  // does not wait an hour: queued items are computed now
  done.Wait();
  EXPECT_EQ(fake.sizes(), (std::vector<int>{3}));
  absl::BlockingCounter unused(1);
  EXPECT_EQ((*batcher)->Enqueue(Items(1, kModel, &out, &unused)).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace catdog::server
