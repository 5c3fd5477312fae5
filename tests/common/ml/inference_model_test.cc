#include "common/ml/inference_model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/ml/vgg.h"

namespace catdog::common {
namespace {

// A width-reduced VGG16 whose batch norms hold non-trivial statistics, as
// after training (fresh ones are the identity and would hide folding bugs).
Vgg16 TrainedLookingModel() {
  torch::manual_seed(3);
  Vgg16 model(VggOptions{3, 0.125});
  torch::NoGradGuard no_grad;
  for (auto& buffer : model->named_buffers()) {
    if (buffer.key().find("running_mean") != std::string::npos) buffer.value().uniform_(-0.5, 0.5);
    if (buffer.key().find("running_var") != std::string::npos) buffer.value().uniform_(0.3, 3.0);
  }
  for (auto& param : model->named_parameters()) {
    // Batch norm gamma / beta are the 1-D parameters that are not biases of
    // convs or linears; perturbing every 1-D parameter covers them.
    if (param.value().dim() == 1) param.value().uniform_(-1.0, 1.5);
  }
  model->eval();
  return model;
}

at::Tensor Reference(Vgg16& model, const at::Tensor& x) {
  torch::InferenceMode guard;
  return model->forward(x);
}

TEST(InferenceVggTest, MatchesTheUnfoldedModelTo1e4) {
  Vgg16 model = TrainedLookingModel();
  InferenceOptions options;
  options.probe_image_size = 32;
  auto fast = InferenceVgg::Build(*model, options);
  ASSERT_TRUE(fast.ok()) << fast.status();
  EXPECT_EQ(fast->uses_onednn(), at::hasMKLDNN()) << fast->description();
  torch::manual_seed(7);
  for (int64_t batch : {1, 3, 8}) {
    for (int64_t size : {32, 48}) {
      const at::Tensor x = torch::rand({batch, 3, size, size});
      const at::Tensor expected = Reference(model, x);
      torch::InferenceMode guard;
      const at::Tensor got = fast->Forward(x);
      ASSERT_EQ(got.sizes(), expected.sizes());
      EXPECT_EQ(got.scalar_type(), torch::kFloat);
      EXPECT_LE((got - expected).abs().max().item<double>(), 1e-4)
          << "batch " << batch << ", " << size << " px";
    }
  }
}

TEST(InferenceVggTest, PlainFoldedPathAlsoMatches) {
  Vgg16 model = TrainedLookingModel();
  InferenceOptions options;
  options.allow_onednn = false;
  options.probe_image_size = 32;
  auto folded = InferenceVgg::Build(*model, options);
  ASSERT_TRUE(folded.ok()) << folded.status();
  EXPECT_FALSE(folded->uses_onednn());
  const at::Tensor x = torch::rand({2, 3, 32, 32});
  const at::Tensor expected = Reference(model, x);
  torch::InferenceMode guard;
  EXPECT_LE((folded->Forward(x) - expected).abs().max().item<double>(), 1e-4);
}

TEST(InferenceVggTest, LeavesTheSourceModelUntouched) {
  Vgg16 model = TrainedLookingModel();
  std::vector<at::Tensor> before;
  for (const auto& t : model->parameters()) before.push_back(t.detach().clone());
  for (const auto& t : model->buffers()) before.push_back(t.clone());
  ASSERT_TRUE(InferenceVgg::Build(*model, InferenceOptions{Precision::kFp32, true, 32}).ok());
  size_t i = 0;
  for (const auto& t : model->parameters()) EXPECT_TRUE(t.equal(before[i++]));
  for (const auto& t : model->buffers()) EXPECT_TRUE(t.equal(before[i++]));
}

TEST(InferenceVggTest, ReducedPrecisionOnCpuIsFailedPrecondition) {
  Vgg16 model = TrainedLookingModel();
  for (Precision p : {Precision::kBf16, Precision::kFp16}) {
    auto built = InferenceVgg::Build(*model, InferenceOptions{p, true, 32});
    EXPECT_EQ(built.status().code(), absl::StatusCode::kFailedPrecondition) << PrecisionName(p);
  }
}

}  // namespace
}  // namespace catdog::common
