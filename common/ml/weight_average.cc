#include "common/ml/weight_average.h"

#include <algorithm>
#include <vector>

#include <torch/torch.h>

namespace catdog::common {
namespace {

std::vector<at::Tensor> Weights(Vgg16& model) {
  std::vector<at::Tensor> weights = model->parameters();
  for (const at::Tensor& b : model->buffers()) weights.push_back(b);
  return weights;
}

}  // namespace

double AverageDecayAt(double decay, int64_t step) {
  return std::min(decay, (1.0 + static_cast<double>(step)) / (10.0 + static_cast<double>(step)));
}

void UpdateAverage(Vgg16& average, Vgg16& model, double decay, int64_t step) {
  torch::NoGradGuard no_grad;
  const double d = AverageDecayAt(decay, step);
  const std::vector<at::Tensor> to = Weights(average);
  const std::vector<at::Tensor> from = Weights(model);
  for (size_t i = 0; i < to.size(); ++i) {
    if (to[i].is_floating_point()) {
      to[i].lerp_(from[i], 1.0 - d);
    } else {
      to[i].copy_(from[i]);
    }
  }
}

void CopyWeights(Vgg16& from, Vgg16& to) {
  torch::NoGradGuard no_grad;
  const std::vector<at::Tensor> source = Weights(from);
  const std::vector<at::Tensor> target = Weights(to);
  for (size_t i = 0; i < target.size(); ++i) target[i].copy_(source[i]);
}

}  // namespace catdog::common
