#include "common/ml/cutmix.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace catdog::common {
namespace {

// Image i is filled with the value i, so every pixel tells whose it is.
at::Tensor NumberedImages(int64_t n, int64_t size) {
  return torch::arange(n, torch::kFloat).view({n, 1, 1, 1}).expand({n, 3, size, size}).contiguous();
}

TEST(CutMixTest, EachImageShowsItsPartnersBoxAndKeepIsItsOwnShare) {
  const int64_t n = 4, size = 16;
  const at::Tensor images = NumberedImages(n, size);
  const at::Tensor labels = torch::tensor({0, 1, 1, 0}, torch::kLong);
  int mixed = 0;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Rng rng(seed);
    const CutMixBatch batch = CutMix(images, labels, 1.0, rng);
    ASSERT_TRUE(batch.other_labels.defined());
    EXPECT_TRUE(batch.other_labels.equal(torch::tensor({0, 0, 1, 1}, torch::kLong)));
    for (int64_t i = 0; i < n; ++i) {
      const at::Tensor own = batch.images[i].eq(static_cast<float>(i));
      const at::Tensor partner = batch.images[i].eq(static_cast<float>((i + n - 1) % n));
      EXPECT_TRUE(own.logical_or(partner).all().item<bool>()) << "seed " << seed;
      EXPECT_NEAR(own.to(torch::kDouble).mean().item<double>(), batch.keep, 1e-9) << "seed " << seed;
    }
    EXPECT_GT(batch.keep, 0.0);
    EXPECT_LE(batch.keep, 1.0);
    if (batch.keep < 1.0) ++mixed;
  }
  EXPECT_GT(mixed, 40);                                        // a zero-area box is rare
  EXPECT_TRUE(images.equal(NumberedImages(n, size)));  // the input is not written
}

TEST(CutMixTest, ProbabilityPicksTheMixedBatchesAndTheSameDrawsGiveTheSameBoxes) {
  const at::Tensor images = torch::rand({3, 3, 8, 8});
  const at::Tensor labels = torch::tensor({0, 1, 0}, torch::kLong);
  Rng off(7);
  const CutMixBatch untouched = CutMix(images, labels, 0.0, off);
  EXPECT_TRUE(untouched.images.is_same(images));
  EXPECT_EQ(untouched.keep, 1.0);
  EXPECT_EQ(off.Next(), Rng(7).Next());  // 0 draws nothing: the reference's streams stay as they were

  int mixed = 0;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    Rng rng(seed);
    if (CutMix(images, labels, 0.25, rng).other_labels.defined()) ++mixed;
  }
  EXPECT_GT(mixed, 60);
  EXPECT_LT(mixed, 140);

  Rng a(11), b(11);
  const CutMixBatch first = CutMix(images, labels, 1.0, a);
  const CutMixBatch second = CutMix(images, labels, 1.0, b);
  EXPECT_TRUE(first.images.equal(second.images));
  EXPECT_EQ(first.keep, second.keep);
}

}  // namespace
}  // namespace catdog::common
