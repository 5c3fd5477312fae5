#include "common/ml/distributed.h"

#include <cstdlib>
#include <set>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace catdog::common
