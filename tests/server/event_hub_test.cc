#include "server/event_hub.h"

#include <thread>

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

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
  hub.Publish("j", StateChange{JobState::kQueued, ""});
  hub.Publish("j", Epoch(1));
  hub.Publish("j", Epoch(2));
  const EventHub::ReadResult r = hub.Read("j", 0, absl::InfinitePast());
  ASSERT_TRUE(r.found);
  ASSERT_EQ(r.events.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(r.events[i].sequence, static_cast<int64_t>(i + 1));
  EXPECT_EQ(std::get<common::EpochMetrics>(r.events[2].payload).epoch, 2);
  EXPECT_FALSE(r.closed);
  EXPECT_EQ(hub.Read("j", 2, absl::InfinitePast()).events.size(), 1u);
}

TEST(EventHubTest, ReaderBlocksUntilPublish) {
  EventHub hub;
  hub.Open("j");
  absl::Notification got;
  EventHub::ReadResult result;
  std::thread reader([&] {
    result = hub.Read("j", 0, absl::InfiniteFuture());
    got.Notify();
  });
  EXPECT_FALSE(got.HasBeenNotified());
  hub.Publish("j", Epoch(1));
  reader.join();
  ASSERT_EQ(result.events.size(), 1u);
}

TEST(EventHubTest, CloseEndsReadersAndIgnoresLaterEvents) {
  EventHub hub;
  hub.Open("j");
  hub.Publish("j", Epoch(1));
  hub.Close("j");
  EXPECT_EQ(hub.Publish("j", Epoch(2)), 0);
  const EventHub::ReadResult r = hub.Read("j", 1, absl::InfiniteFuture());
  EXPECT_TRUE(r.closed);
  EXPECT_TRUE(r.events.empty());
}

TEST(EventHubTest, ShutdownWakesBlockedReaders) {
  EventHub hub;
  hub.Open("j");
  std::thread reader([&] {
    const EventHub::ReadResult r = hub.Read("j", 0, absl::InfiniteFuture());
    EXPECT_TRUE(r.events.empty());
    EXPECT_FALSE(r.closed);
  });
  hub.Shutdown();
  reader.join();
  EXPECT_TRUE(hub.shutting_down());
}

TEST(EventHubTest, UnknownJobIsNotFound) {
  EventHub hub;
  EXPECT_FALSE(hub.Read("nope", 0, absl::InfinitePast()).found);
}

}  // namespace
}  // namespace catdog::server
