#include "common/ml/distributed.h"

#include <cstdlib>
#include <functional>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace catdog::common {
namespace {

TEST(ShardPositions, DisjointEqualShardsThatCoverEverySample) {
  std::multiset<int64_t> all;
  for (int rank = 0; rank < 3; ++rank) {
    const std::vector<int64_t> shard = ShardPositions(10, rank, 3);
    EXPECT_EQ(shard.size(), 4u);  // ceil(10 / 3), the last two padded by wrapping around
    all.insert(shard.begin(), shard.end());
  }
  for (int64_t i = 0; i < 10; ++i) EXPECT_GE(all.count(i), 1u) << i;
  EXPECT_EQ(all.size(), 12u);
  EXPECT_EQ(ShardPositions(10, 1, 3), (std::vector<int64_t>{1, 4, 7, 0}));
  EXPECT_EQ(ShardPositions(4, 0, 1), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_TRUE(ShardPositions(0, 0, 2).empty());
}

class WorldFromEnvironmentTest : public ::testing::Test {
 protected:
  void SetUp() override { Clear(); }
  void TearDown() override { Clear(); }
  static void Clear() {
    for (const char* v : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(v);
  }
};

TEST_F(WorldFromEnvironmentTest, OneProcessWithoutAWorld) {
  EXPECT_FALSE(WorldFromEnvironment()->has_value());
  ::setenv("WORLD_SIZE", "1", 1);
  EXPECT_FALSE(WorldFromEnvironment()->has_value());
}

TEST_F(WorldFromEnvironmentTest, ReadsTorchrunsVariables) {
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("RANK", "3", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  ::setenv("MASTER_ADDR", "10.0.0.1", 1);
  ::setenv("MASTER_PORT", "29501", 1);
  auto w = WorldFromEnvironment();
  ASSERT_TRUE(w.ok() && w->has_value()) << w.status();
  EXPECT_EQ((*w)->world_size, 4);
  EXPECT_EQ((*w)->rank, 3);
  EXPECT_EQ((*w)->local_rank, 1);
  EXPECT_EQ((*w)->master_addr, "10.0.0.1");
  EXPECT_EQ((*w)->master_port, 29501);
}

TEST_F(WorldFromEnvironmentTest, RefusesValuesThatDoNotFit) {
  ::setenv("WORLD_SIZE", "2", 1);
  EXPECT_EQ(WorldFromEnvironment().status().code(), absl::StatusCode::kInvalidArgument);  // no RANK
  ::setenv("RANK", "2", 1);
  EXPECT_EQ(WorldFromEnvironment().status().code(), absl::StatusCode::kInvalidArgument);
  ::setenv("RANK", "1", 1);
  ::setenv("MASTER_PORT", "70000", 1);
  EXPECT_EQ(WorldFromEnvironment().status().code(), absl::StatusCode::kInvalidArgument);
  ::setenv("MASTER_PORT", "x", 1);
  EXPECT_EQ(WorldFromEnvironment().status().code(), absl::StatusCode::kInvalidArgument);
  ::setenv("WORLD_SIZE", "0", 1);
  EXPECT_EQ(WorldFromEnvironment().status().code(), absl::StatusCode::kInvalidArgument);
}


// Runs `body(rank, group)` on one thread per rank of a LocalRendezvous. The
// timeout is an hour: a collective that hangs fails the test by CTest's
// timeout, not by passing late.
void RunLocalRanks(int world, const std::function<void(int, ProcessGroup&)>& body) {
  LocalRendezvous rendezvous(world, absl::Hours(1));
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      auto group = ProcessGroup::JoinLocal(rendezvous, rank);
      ASSERT_TRUE(group.ok()) << group.status();
      EXPECT_EQ((*group)->rank(), rank);
      EXPECT_EQ((*group)->world_size(), world);
      body(rank, **group);
    });
  }
  for (std::thread& t : threads) t.join();
}

TEST(LocalRanks, AverageGradientsSumsAndBroadcastAsProcessesDo) {
  if (!DistributedAvailable()) GTEST_SKIP() << "built without c10d's Gloo backend";
  RunLocalRanks(3, [](int rank, ProcessGroup& group) {
    // Two parameters, one without a gradient (counts as zeros); a bucket
    // smaller than one tensor, so each goes alone.
    at::Tensor a = torch::zeros({4, 3});
    at::Tensor b = torch::zeros({5});
    a.mutable_grad() = torch::full({4, 3}, static_cast<float>(rank + 1));
    if (rank != 0) b.mutable_grad() = torch::full({5}, 3.0f);
    ASSERT_TRUE(group.AverageGradients({a, b}, /*bucket_bytes=*/16).ok());
    EXPECT_TRUE(torch::allclose(a.grad(), torch::full({4, 3}, 2.0f))) << a.grad();
    EXPECT_TRUE(torch::allclose(b.grad(), torch::full({5}, 2.0f))) << b.grad();

    std::vector<double> sums = {1.0, static_cast<double>(rank)};
    ASSERT_TRUE(group.Sum(&sums).ok());
    EXPECT_EQ(sums, (std::vector<double>{3.0, 3.0}));
    auto decided = group.BroadcastValue(rank == 0 ? 42 : -1);
    ASSERT_TRUE(decided.ok());
    EXPECT_EQ(*decided, 42);
    at::Tensor w = torch::full({2}, static_cast<float>(rank));
    ASSERT_TRUE(group.Broadcast({w}).ok());
    EXPECT_TRUE(torch::equal(w, torch::zeros({2})));
  });
}

// The reducer's means are AverageGradients': a parameter backward did not
// reach counts as zeros, and so does a rank that skips backward (an empty
// batch). Buckets start from the hooks, in index order.
TEST(LocalRanks, GradientReducerAveragesWhileBackwardRuns) {
  if (!DistributedAvailable()) GTEST_SKIP() << "built without c10d's Gloo backend";
  RunLocalRanks(3, [](int rank, ProcessGroup& group) {
    at::Tensor a = torch::zeros({4, 3}, torch::requires_grad());
    at::Tensor b = torch::zeros({5}, torch::requires_grad());
    at::Tensor c = torch::zeros({2}, torch::requires_grad());
    GradientReducer reducer(group, {a, b, c}, /*bucket_bytes=*/1);  // one bucket each
    ASSERT_EQ(reducer.num_buckets(), 3);
    // Rank 0 reaches a only, rank 1 all three, rank 2 nothing.
    if (rank == 0) (a * 1.0f).sum().backward();
    if (rank == 1) ((a * 2.0f).sum() + (b * 3.0f).sum() + (c * 6.0f).sum()).backward();
    // Bucket 0 holds c (backward's order): on rank 0 it waits for Finish,
    // and so does everything after it; rank 1's hooks started all three.
    EXPECT_EQ(reducer.started(), rank == 1 ? 3 : 0);
    ASSERT_TRUE(reducer.Finish().ok());
    EXPECT_TRUE(torch::equal(a.grad(), torch::full({4, 3}, 1.0f))) << a.grad();
    EXPECT_TRUE(torch::equal(b.grad(), torch::full({5}, 1.0f))) << b.grad();
    EXPECT_TRUE(torch::equal(c.grad(), torch::full({2}, 2.0f))) << c.grad();

    // The next pass starts afresh (and overwrites what .grad accumulated).
    a.sum().backward();
    ASSERT_TRUE(reducer.Finish().ok());
    EXPECT_TRUE(torch::equal(a.grad(), torch::ones({4, 3}))) << a.grad();
    EXPECT_TRUE(torch::equal(c.grad(), torch::zeros({2}))) << c.grad();

    // Two backward passes before one Finish: refused, not summed twice.
    a.sum().backward();
    a.sum().backward();
    EXPECT_EQ(reducer.Finish().code(), absl::StatusCode::kFailedPrecondition);
  });
}

TEST(LocalRanks, ARankThatLeavesFailsTheOthersInsteadOfHanging) {
  if (!DistributedAvailable()) GTEST_SKIP() << "built without c10d's Gloo backend";
  LocalRendezvous rendezvous(2, absl::Hours(1));
  std::unique_ptr<ProcessGroup> leaver;
  std::thread peer([&] {
    auto group = ProcessGroup::JoinLocal(rendezvous, 1);
    ASSERT_TRUE(group.ok()) << group.status();
    leaver = std::move(*group);
  });
  auto group = ProcessGroup::JoinLocal(rendezvous, 0);
  peer.join();
  ASSERT_TRUE(group.ok()) << group.status();
  leaver.reset();  // rank 1 is gone, as when its training fails
  at::Tensor p = torch::zeros({8});
  p.mutable_grad() = torch::ones({8});
  const absl::Status s = (*group)->AverageGradients({p});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("did another rank die or stall"), std::string::npos) << s;
}

}  // namespace
}  // namespace catdog::common
