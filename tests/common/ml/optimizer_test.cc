#include "common/ml/optimizer.h"

#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/ml/vgg.h"

namespace catdog::common {
namespace {

Vgg16 SmallModel() {
  torch::manual_seed(3);
  return Vgg16(VggOptions{2, 0.125});
}

// Trains `model` for `steps` steps on fixed random batches with `optimizer`.
void Train(Vgg16& model, torch::optim::Optimizer& optimizer, int steps) {
  model->train();
  torch::manual_seed(11);
  for (int i = 0; i < steps; ++i) {
    auto x = torch::rand({4, 3, 32, 32});
    auto y = torch::randint(0, 2, {4}, torch::kInt64);
    optimizer.zero_grad();
    torch::nn::functional::cross_entropy(model->forward(x), y).backward();
    optimizer.step();
  }
}

void ExpectSameParameters(const Vgg16& a, const Vgg16& b) {
  const auto pa = a->parameters();
  const auto pb = b->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
  }
}

// Trains one copy of the small model with torch::optim::Adam and one with
// MultiTensorAdam and expects the same parameters, which have moved.
void ExpectSameAsTorchAdam(const torch::optim::AdamOptions& options, int steps) {
  Vgg16 reference = SmallModel();
  Vgg16 ours = SmallModel();
  torch::optim::Adam adam(reference->parameters(), options);
  MultiTensorAdam multi(ours->parameters(), options);
  Train(reference, adam, steps);
  Train(ours, multi, steps);
  ExpectSameParameters(reference, ours);
  EXPECT_FALSE(torch::equal(reference->parameters()[0], SmallModel()->parameters()[0]));
}

TEST(MultiTensorAdamTest, MatchesTorchAdamExactly) {
  ExpectSameAsTorchAdam(torch::optim::AdamOptions(1e-3).weight_decay(1e-4), 4);
}

TEST(MultiTensorAdamTest, DecoupledWeightDecayMatchesTorchAdamW) {
  const double lr = 1e-2, decay = 0.05;
  Vgg16 reference = SmallModel();
  Vgg16 ours = SmallModel();
  torch::optim::AdamW adamw(reference->parameters(), torch::optim::AdamWOptions(lr).weight_decay(decay));
  MultiTensorAdam multi(ours->parameters(), torch::optim::AdamOptions(lr).weight_decay(decay),
                        /*decoupled_weight_decay=*/true);
  Train(reference, adamw, 4);
  Train(ours, multi, 4);
  const auto pa = reference->parameters();
  const auto pb = ours->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::allclose(pa[i], pb[i], /*rtol=*/1e-5, /*atol=*/1e-7)) << "parameter " << i;
  }
  // And it is not Adam with L2: the same steps there end elsewhere.
  Vgg16 coupled = SmallModel();
  MultiTensorAdam l2(coupled->parameters(), torch::optim::AdamOptions(lr).weight_decay(decay));
  Train(coupled, l2, 4);
  EXPECT_FALSE(torch::allclose(coupled->parameters()[0], pb[0], 1e-5, 1e-7));
}

TEST(MultiTensorAdamTest, ParametersOnDifferentStepCountsUpdateCorrectly) {
  // `c` has no gradient in the first step, so its state lags by one step.
  auto make = [] {
    torch::manual_seed(5);
    return std::vector<at::Tensor>{torch::randn({3}, torch::requires_grad()),
                                    torch::randn({2, 2}, torch::requires_grad()),
                                    torch::randn({4}, torch::requires_grad())};
  };
  auto run = [](torch::optim::Optimizer& optimizer, std::vector<at::Tensor>& p) {
    for (int step = 0; step < 3; ++step) {
      for (auto& t : p) t.mutable_grad() = at::Tensor();
      auto loss = (p[0] * p[0]).sum() + p[1].sum() * 3;
      if (step > 0) loss = loss + (p[2] * p[2] * p[2]).sum();
      loss.backward();
      optimizer.step();
    }
  };
  auto reference = make();
  auto ours = make();
  torch::optim::Adam adam(reference, torch::optim::AdamOptions(0.1));
  MultiTensorAdam multi(ours, torch::optim::AdamOptions(0.1));
  run(adam, reference);
  run(multi, ours);
  for (size_t i = 0; i < ours.size(); ++i) EXPECT_TRUE(torch::equal(reference[i], ours[i])) << i;
}

TEST(MultiTensorAdamTest, SavedStateResumesInEitherOptimizer) {
  Vgg16 first = SmallModel();
  MultiTensorAdam multi(first->parameters(), torch::optim::AdamOptions(1e-3));
  Train(first, multi, 2);
  std::stringstream saved;
  {
    torch::serialize::OutputArchive archive;
    multi.save(archive);
    archive.save_to(saved);
  }
  // Resume two copies of the model: one with torch::optim::Adam, one with ours.
  Vgg16 a = SmallModel();
  Vgg16 b = SmallModel();
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < first->parameters().size(); ++i) {
      a->parameters()[i].copy_(first->parameters()[i]);
      b->parameters()[i].copy_(first->parameters()[i]);
    }
  }
  torch::optim::Adam adam(a->parameters(), torch::optim::AdamOptions(1e-3));
  MultiTensorAdam resumed(b->parameters(), torch::optim::AdamOptions(1e-3));
  for (torch::optim::Optimizer* o : {static_cast<torch::optim::Optimizer*>(&adam),
                                     static_cast<torch::optim::Optimizer*>(&resumed)}) {
    std::stringstream copy(saved.str());
    torch::serialize::InputArchive archive;
    archive.load_from(copy);
    o->load(archive);
  }
  EXPECT_EQ(adam.state().size(), first->parameters().size());
  Train(a, adam, 2);
  Train(b, resumed, 2);
  ExpectSameParameters(a, b);
}

TEST(MultiTensorAdamTest, AmsgradFallsBackToTorchAdam) {
  ExpectSameAsTorchAdam(torch::optim::AdamOptions(1e-3).amsgrad(true), 2);
}

TEST(ChannelsLastTest, ConvolutionWeightsChangeLayoutNotValues) {
  Vgg16 model = SmallModel();
  Vgg16 same = SmallModel();
  ToChannelsLast(*model);
  int converted = 0;
  for (const auto& p : model->parameters()) {
    if (p.dim() != 4) continue;
    EXPECT_TRUE(p.is_contiguous(at::MemoryFormat::ChannelsLast));
    ++converted;
  }
  EXPECT_EQ(converted, 13);
  model->eval();
  same->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::rand({2, 3, 32, 32});
  EXPECT_TRUE(torch::allclose(model->forward(x), same->forward(x), 1e-4, 1e-5));
  // The optimizer's state takes the parameters' layout.
  MultiTensorAdam multi(model->parameters(), torch::optim::AdamOptions(1e-3));
  {
    torch::AutoGradMode grad(true);
    Train(model, multi, 1);
  }
  int states = 0;
  for (const auto& entry : multi.state()) {
    const auto& s = static_cast<const torch::optim::AdamParamState&>(*entry.second);
    if (s.exp_avg().dim() != 4) continue;
    EXPECT_TRUE(s.exp_avg().is_contiguous(at::MemoryFormat::ChannelsLast));
    EXPECT_TRUE(s.exp_avg_sq().is_contiguous(at::MemoryFormat::ChannelsLast));
    ++states;
  }
  EXPECT_EQ(states, 13);
}

}  // namespace
}  // namespace catdog::common
