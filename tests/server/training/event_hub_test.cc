#include "server/training/event_hub.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"

namespace catdog::server {
namespace {

common::EpochMetrics Epoch(int64_t n) {
  common::EpochMetrics m;
  m.epoch = n;
  return m;
}

TEST(EventHubTest, LateReaderGetsTheWholeHistoryInOrder) {
  EventHub hub;
  hub.Open("j");
  hub.Publish("j", common::StateChange{common::JobState::kQueued, ""});
  hub.Publish("j", Epoch(1));
  hub.Publish("j", Epoch(2));
  const EventHub::ReadResult r = hub.Poll("j", 0);
  ASSERT_TRUE(r.found);
  ASSERT_EQ(r.events.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(r.events[i].sequence, static_cast<int64_t>(i + 1));
  EXPECT_EQ(std::get<common::EpochMetrics>(r.events[2].payload).epoch, 2);
  EXPECT_FALSE(r.closed);
  EXPECT_EQ(hub.Poll("j", 2).events.size(), 1u);
  EXPECT_TRUE(hub.Poll("j", 3).events.empty());
}

TEST(EventHubTest, PollReturnsAtMostTheAskedNumber) {
  EventHub hub;
  for (int i = 1; i <= 3; ++i) hub.Publish("j", Epoch(i));
  hub.Close("j");
  const EventHub::ReadResult first = hub.Poll("j", 0, 1);
  ASSERT_EQ(first.events.size(), 1u);
  EXPECT_FALSE(first.closed) << "closed only once the last event is read";
  const EventHub::ReadResult last = hub.Poll("j", 2, 1);
  ASSERT_EQ(last.events.size(), 1u);
  EXPECT_TRUE(last.closed);
}

TEST(EventHubTest, SubscriberIsWokenByPublishAndCloseFromAnotherThread) {
  EventHub hub;
  hub.Open("j");
  std::atomic<int> wakes{0};
  absl::Notification closed;
  const int64_t handle = hub.Subscribe("j", [&] {
    ++wakes;
    if (hub.Poll("j", 0).closed) closed.Notify();
  });
  std::thread publisher([&] {
    hub.Publish("j", Epoch(1));
    hub.Close("j");
  });
  closed.WaitForNotification();
  publisher.join();
  EXPECT_EQ(wakes.load(), 2);
  hub.Unsubscribe("j", handle);
  hub.Publish("j", Epoch(2));  // ignored after Close, and nobody is woken
  EXPECT_EQ(wakes.load(), 2);
}

TEST(EventHubTest, UnsubscribedReaderIsNotWoken) {
  EventHub hub;
  int wakes = 0;
  const int64_t handle = hub.Subscribe("j", [&] { ++wakes; });
  hub.Publish("j", Epoch(1));
  hub.Unsubscribe("j", handle);
  hub.Publish("j", Epoch(2));
  EXPECT_EQ(wakes, 1);
}

TEST(EventHubTest, CloseIgnoresLaterEvents) {
  EventHub hub;
  hub.Open("j");
  hub.Publish("j", Epoch(1));
  hub.Close("j");
  EXPECT_EQ(hub.Publish("j", Epoch(2)), 0);
  const EventHub::ReadResult r = hub.Poll("j", 1);
  EXPECT_TRUE(r.closed);
  EXPECT_TRUE(r.events.empty());
}

TEST(EventHubTest, ShutdownWakesEverySubscriber) {
  EventHub hub;
  int wakes = 0;
  hub.Subscribe("a", [&] { ++wakes; });
  hub.Subscribe("b", [&] { ++wakes; });
  EXPECT_FALSE(hub.shutting_down());
  hub.Shutdown();
  EXPECT_EQ(wakes, 2);
  EXPECT_TRUE(hub.shutting_down());
}

TEST(EventHubTest, UnknownJobIsNotFound) {
  EventHub hub;
  EXPECT_FALSE(hub.Poll("nope", 0).found);
}

}  // namespace
}  // namespace catdog::server
