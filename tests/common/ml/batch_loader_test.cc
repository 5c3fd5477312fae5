#include "common/ml/batch_loader.h"

#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/data/image_folder.h"
#include "tests/support/test_data.h"

namespace catdog::common {
namespace {

using catdog::testing::TempDir;

class BatchLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    catdog::testing::WriteSyntheticDataset(dir_.path(), 11, 20);
    auto folder = ScanImageFolder(dir_.path());
    ASSERT_TRUE(folder.ok()) << folder.status();
    samples_ = folder->samples;
  }

  std::unique_ptr<BatchLoader> MakeLoader(LoaderOptions options) {
    options.preprocessing.image_size = 16;
    auto loader = BatchLoader::Create(samples_, options);
    EXPECT_TRUE(loader.ok()) << loader.status();
    return std::move(loader).value();
  }

  // All sample indices of one epoch, in the order delivered.
  static std::vector<size_t> Epoch(BatchLoader& loader, int64_t epoch) {
    std::vector<size_t> order;
    loader.StartEpoch(epoch);
    while (auto batch = loader.Next()) {
      EXPECT_EQ(batch->images.size(0), static_cast<int64_t>(batch->indices.size()));
      EXPECT_EQ(batch->labels.size(0), static_cast<int64_t>(batch->indices.size()));
      order.insert(order.end(), batch->indices.begin(), batch->indices.end());
    }
    return order;
  }

  TempDir dir_;
  std::vector<Sample> samples_;
};

TEST_F(BatchLoaderTest, CoversEverySampleExactlyOncePerEpoch) {
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = true;
  o.num_workers = 3;
  auto loader = MakeLoader(o);
  EXPECT_EQ(loader->num_batches(), 6);  // 22 samples / 4
  for (int64_t epoch = 1; epoch <= 3; ++epoch) {
    const std::vector<size_t> order = Epoch(*loader, epoch);
    ASSERT_EQ(order.size(), samples_.size());
    EXPECT_EQ(std::set<size_t>(order.begin(), order.end()).size(), samples_.size());
  }
}

TEST_F(BatchLoaderTest, DeterministicForSeedAndDifferentPerEpoch) {
  LoaderOptions o;
  o.batch_size = 5;
  o.shuffle = true;
  o.augment = true;
  o.num_workers = 3;
  auto a = MakeLoader(o);
  auto b = MakeLoader(o);
  const auto order_a1 = Epoch(*a, 1);
  EXPECT_EQ(order_a1, Epoch(*b, 1));
  EXPECT_NE(order_a1, Epoch(*a, 2));
  // Same pixels too (augmentation seeded per sample, not per thread).
  a->StartEpoch(7);
  b->StartEpoch(7);
  while (auto batch_a = a->Next()) {
    auto batch_b = b->Next();
    ASSERT_TRUE(batch_b.has_value());
    EXPECT_TRUE(torch::equal(batch_a->images, batch_b->images));
    EXPECT_TRUE(torch::equal(batch_a->labels, batch_b->labels));
  }
  o.seed = 43;
  auto c = MakeLoader(o);
  EXPECT_NE(order_a1, Epoch(*c, 1));
}

TEST_F(BatchLoaderTest, BatchesAreFloatChwInUnitRange) {
  LoaderOptions o;
  o.batch_size = 8;
  auto loader = MakeLoader(o);
  loader->StartEpoch(0);
  auto batch = loader->Next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->images.sizes(), (std::vector<int64_t>{8, 3, 16, 16}));
  EXPECT_EQ(batch->images.scalar_type(), torch::kFloat32);
  EXPECT_GE(batch->images.min().item<float>(), 0.0f);
  EXPECT_LE(batch->images.max().item<float>(), 1.0f);
  EXPECT_EQ(batch->labels.scalar_type(), torch::kInt64);
}

TEST_F(BatchLoaderTest, CachedEpochsMatchUncached) {
  LoaderOptions o;
  o.batch_size = 6;
  o.shuffle = true;
  auto plain = MakeLoader(o);
  o.cache_images = true;
  auto cached = MakeLoader(o);
  for (int64_t epoch : {1, 2}) {  // epoch 2 is served from the cache
    plain->StartEpoch(epoch);
    cached->StartEpoch(epoch);
    while (auto x = plain->Next()) {
      auto y = cached->Next();
      ASSERT_TRUE(y.has_value());
      EXPECT_TRUE(torch::equal(x->images, y->images));
    }
  }
}

TEST_F(BatchLoaderTest, ResizedCropsFromCachedSourcesMatchUncachedAtTheOutputSize) {
  LoaderOptions o;
  o.batch_size = 6;
  o.shuffle = true;
  o.augment = true;
  o.augment_options.crop_scale_min = 0.25;  // cached at 2x: 32 px sources for 16 px crops
  o.augment_options.color_jitter = 0.2;
  auto plain = MakeLoader(o);
  o.cache_images = true;
  auto cached = MakeLoader(o);
  for (int64_t epoch : {1, 2}) {  // the same crops from the cached sources
    plain->StartEpoch(epoch);
    cached->StartEpoch(epoch);
    while (auto x = plain->Next()) {
      auto y = cached->Next();
      ASSERT_TRUE(y.has_value());
      EXPECT_EQ(x->images.sizes(), (std::vector<int64_t>{x->images.size(0), 3, 16, 16}));
      EXPECT_TRUE(torch::equal(x->images, y->images));
    }
  }
}

TEST_F(BatchLoaderTest, SkipsAndCountsUndecodableFiles) {
  catdog::testing::WriteFile(dir_.Sub("cat/broken.jpg"), "this is not a jpeg");
  catdog::testing::WriteFile(dir_.Sub("dog/empty.png"), "");
  auto folder = ScanImageFolder(dir_.path());
  ASSERT_TRUE(folder.ok());
  samples_ = folder->samples;
  ASSERT_EQ(samples_.size(), 24u);
  LoaderOptions o;
  o.batch_size = 4;
  o.cache_images = true;
  auto loader = MakeLoader(o);
  for (int64_t epoch : {1, 2}) {
    const auto order = Epoch(*loader, epoch);
    EXPECT_EQ(order.size(), 22u);  // the two bad files are not in any batch
    for (size_t index : order) {
      EXPECT_EQ(samples_[index].path.find("broken"), std::string::npos);
      EXPECT_EQ(samples_[index].path.find("empty"), std::string::npos);
    }
  }
  EXPECT_EQ(loader->skipped_files(), 2);
}

TEST_F(BatchLoaderTest, RestartingAnEpochMidwayStartsClean) {
  LoaderOptions o;
  o.batch_size = 2;
  o.shuffle = true;
  o.prefetch_batches = 2;
  auto loader = MakeLoader(o);
  loader->StartEpoch(1);
  ASSERT_TRUE(loader->Next().has_value());  // abandon after one batch
  const auto order = Epoch(*loader, 1);
  EXPECT_EQ(order.size(), samples_.size());
}

TEST_F(BatchLoaderTest, DataParallelShardsSplitEachShuffledEpoch) {
  // 22 samples over 3 ranks: padded shards of 8 (training), unpadded 8/7/7.
  LoaderOptions o;
  o.batch_size = 3;
  o.shuffle = true;
  o.shard_count = 3;
  std::multiset<size_t> padded, unpadded;
  for (int rank = 0; rank < 3; ++rank) {
    o.shard_rank = rank;
    o.pad_shards = true;
    auto train = MakeLoader(o);
    const std::vector<size_t> shard = Epoch(*train, 2);
    EXPECT_EQ(shard.size(), 8u);
    EXPECT_EQ(train->num_batches(), 3);
    padded.insert(shard.begin(), shard.end());
    o.pad_shards = false;
    auto eval = MakeLoader(o);
    const std::vector<size_t> part = Epoch(*eval, 2);
    EXPECT_EQ(part.size(), rank == 0 ? 8u : 7u);
    unpadded.insert(part.begin(), part.end());
  }
  EXPECT_EQ(padded.size(), 24u);  // two samples twice
  EXPECT_EQ(unpadded.size(), 22u);
  for (size_t i = 0; i < 22; ++i) {
    EXPECT_EQ(unpadded.count(i), 1u) << i;
    EXPECT_GE(padded.count(i), 1u) << i;
  }
  o.shard_rank = 3;
  EXPECT_EQ(BatchLoader::Create(samples_, o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BatchLoaderCreateTest, RejectsEmptySampleList) {
  EXPECT_EQ(BatchLoader::Create({}, LoaderOptions{}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace catdog::common
