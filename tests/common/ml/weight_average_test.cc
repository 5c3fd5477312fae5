#include "common/ml/weight_average.h"

#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace catdog::common {
namespace {

std::vector<at::Tensor> AllWeights(Vgg16& model) {
  std::vector<at::Tensor> weights = model->parameters();
  for (const at::Tensor& b : model->buffers()) weights.push_back(b);
  return weights;
}

TEST(WeightAverageTest, DecayWarmsUpToItsCap) {
  EXPECT_DOUBLE_EQ(AverageDecayAt(0.998, 1), 2.0 / 11.0);
  EXPECT_DOUBLE_EQ(AverageDecayAt(0.998, 90), 91.0 / 100.0);
  EXPECT_DOUBLE_EQ(AverageDecayAt(0.998, 1000000), 0.998);
  EXPECT_DOUBLE_EQ(AverageDecayAt(0.5, 20), 0.5);
}

// Parameters and BatchNorm statistics move (1 - d) of the way to the
// model's; the batch counters are copied, not averaged.
TEST(WeightAverageTest, UpdateFoldsTheModelIntoTheAverage) {
  torch::manual_seed(1);
  Vgg16 model(VggOptions{2, 0.125});
  Vgg16 average(VggOptions{2, 0.125});
  model->train();
  model->forward(torch::rand({4, 3, 32, 32}));  // running stats and counters move
  const std::vector<at::Tensor> before = [&] {
    std::vector<at::Tensor> copies;
    for (const at::Tensor& t : AllWeights(average)) copies.push_back(t.clone());
    return copies;
  }();
  UpdateAverage(average, model, 0.9, 1000);  // d = 0.9: the cap binds
  const std::vector<at::Tensor> after = AllWeights(average);
  const std::vector<at::Tensor> weights = AllWeights(model);
  int averaged = 0, copied = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    SCOPED_TRACE(i);
    if (after[i].is_floating_point()) {
      EXPECT_TRUE(torch::allclose(after[i], 0.9 * before[i] + 0.1 * weights[i], 1e-5, 1e-6));
      ++averaged;
    } else {
      EXPECT_TRUE(torch::equal(after[i], weights[i]));
      EXPECT_FALSE(torch::equal(before[i], weights[i]));
      ++copied;
    }
  }
  EXPECT_GT(averaged, 0);
  EXPECT_GT(copied, 0);  // num_batches_tracked
  CopyWeights(model, average);
  const std::vector<at::Tensor> same = AllWeights(average);
  for (size_t i = 0; i < same.size(); ++i) EXPECT_TRUE(torch::equal(same[i], weights[i]));
}

}  // namespace
}  // namespace catdog::common
