#include "common/ml/mixed_precision.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace catdog::common {
namespace {

std::vector<at::Tensor> ParamsWithGrads(const std::vector<float>& grads) {
  std::vector<at::Tensor> params;
  for (float g : grads) {
    auto p = torch::zeros({3}, torch::requires_grad());
    p.mutable_grad() = torch::full({3}, g);
    params.push_back(p);
  }
  return params;
}

TEST(LossScalerTest, UnscaleDividesGradientsByTheScale) {
  LossScaler scaler(LossScaler::Options{1024.0, 2.0, 0.5, 3});
  EXPECT_DOUBLE_EQ(scaler.Scale(torch::ones({})).item<double>(), 1024.0);
  auto params = ParamsWithGrads({2048.0f, -512.0f});
  EXPECT_TRUE(scaler.Unscale(params));
  EXPECT_FLOAT_EQ(params[0].grad()[0].item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(params[1].grad()[2].item<float>(), -0.5f);
}

TEST(LossScalerTest, OverflowIsReportedAndHalvesTheScale) {
  LossScaler scaler(LossScaler::Options{1024.0, 2.0, 0.5, 3});
  EXPECT_FALSE(scaler.Unscale(ParamsWithGrads({1.0f, std::numeric_limits<float>::infinity()})));
  EXPECT_FALSE(scaler.Unscale(ParamsWithGrads({std::nanf("")})));
  scaler.Update(false);
  EXPECT_DOUBLE_EQ(scaler.scale(), 512.0);
}

TEST(LossScalerTest, GrowsAfterTheIntervalOfCleanSteps) {
  LossScaler scaler(LossScaler::Options{1024.0, 2.0, 0.5, 3});
  scaler.Update(true);
  scaler.Update(true);
  EXPECT_DOUBLE_EQ(scaler.scale(), 1024.0);
  scaler.Update(true);
  EXPECT_DOUBLE_EQ(scaler.scale(), 2048.0);
  scaler.Update(true);
  scaler.Update(false);  // an overflow restarts the count
  scaler.Update(true);
  scaler.Update(true);
  EXPECT_DOUBLE_EQ(scaler.scale(), 1024.0);
}

TEST(AutocastScopeTest, Bf16OnCpuCastsConvolutionsAndRestores) {
  const c10::Device cpu(c10::kCPU);
  auto x = torch::rand({1, 3, 8, 8});
  auto w = torch::rand({4, 3, 3, 3});
  {
    AutocastScope scope(cpu, Precision::kBf16);
    EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kFloat);
  {
    AutocastScope scope(cpu, Precision::kFp32);  // a no-op
    EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kFloat);
  }
}

TEST(CheckTrainingPrecisionTest, Fp16NeedsCuda) {
  const c10::Device cpu(c10::kCPU);
  EXPECT_TRUE(CheckTrainingPrecision(cpu, Precision::kFp32).ok());
  EXPECT_TRUE(CheckTrainingPrecision(cpu, Precision::kBf16).ok());
  EXPECT_EQ(CheckTrainingPrecision(cpu, Precision::kFp16).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(CheckTrainingPrecision(c10::Device(c10::kCUDA, 0), Precision::kFp16).ok());
}

}  // namespace
}  // namespace catdog::common
