// Smoke tests on the real Kaggle photos in ../shared/data/catdog; skipped
// where that folder is absent. Nothing is copied anywhere.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/data/image_folder.h"
#include "common/ml/batch_loader.h"
#include "common/ml/vgg.h"
#include "tests/support/test_data.h"

namespace catdog::common {
namespace {

class RealPhotosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = catdog::testing::RealPhotosDir();
    if (!dir) GTEST_SKIP() << "real photos not found (set CATDOG_DATA_DIR)";
    root_ = *dir;
  }
  std::string root_;
};

TEST_F(RealPhotosTest, IndexesTheKaggleLayout) {
  auto train = ScanImageFolder(root_ + "/train");
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->classes, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(train->CountsPerClass(), (std::vector<int64_t>{1000, 1000}));
  const SplitResult split = StratifiedSplit(train->samples, 2, 0.2, 42);
  EXPECT_EQ(split.train.size(), 1600u);
  EXPECT_EQ(split.valid.size(), 400u);
}

TEST_F(RealPhotosTest, LoadsAndTrainsOneBatch) {
  auto train = ScanImageFolder(root_ + "/train");
  ASSERT_TRUE(train.ok());
  const SplitResult split = StratifiedSplit(train->samples, 2, 0.2, 42);
  LoaderOptions o;
  o.batch_size = 16;
  o.preprocessing.image_size = 64;
  o.shuffle = true;
  o.augment = true;
  auto loader = BatchLoader::Create(split.train, o);
  ASSERT_TRUE(loader.ok());
  (*loader)->StartEpoch(1);
  auto batch = (*loader)->Next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->images.sizes(), (std::vector<int64_t>{16, 3, 64, 64}));
  EXPECT_GT(batch->images.std().item<float>(), 0.05f);  // real pixels, not zeros

  torch::manual_seed(0);
  Vgg16 model(VggOptions{2, 0.25});
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-4));
  model->train();
  auto loss = torch::nn::functional::cross_entropy(model->forward(batch->images), batch->labels);
  loss.backward();
  adam.step();
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  EXPECT_EQ((*loader)->skipped_files(), 0);
}

}  // namespace
}  // namespace catdog::common
