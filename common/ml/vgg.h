// The reference VGG16: five conv blocks (3x3 conv, BatchNorm2d, ReLU; 2x2
// max-pool closing each block), global average pooling, then
// Linear(512, 64), BatchNorm1d(64), ReLU, Linear(64, classes). At width 1.0
// and two classes: 16,526,466 parameters, named conv_block1.0.weight ...
// classifier.3.bias like the reference notebook's state_dict.
//
// Works for any input of 32 px or more. Not thread-safe for training; forward
// in eval mode under InferenceMode may run concurrently.
#pragma once

#include <cstdint>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "absl/status/status.h"

namespace catdog::common {

struct VggOptions {
  int num_classes = 2;
  double width = 1.0;  // channel multiplier
};

absl::Status ValidateVggOptions(const VggOptions& options);

class Vgg16Impl : public torch::nn::Module {
 public:
  explicit Vgg16Impl(const VggOptions& options);

  // x: N x 3 x H x W float; returns N x num_classes logits.
  torch::Tensor forward(torch::Tensor x);

  const VggOptions& options() const { return options_; }

 private:
  VggOptions options_;
  torch::nn::Sequential conv_block1_{nullptr}, conv_block2_{nullptr}, conv_block3_{nullptr},
      conv_block4_{nullptr}, conv_block5_{nullptr};
  torch::nn::Sequential classifier_{nullptr};
};
TORCH_MODULE(Vgg16);

int64_t CountParameters(const torch::nn::Module& module);

// Sizes by arithmetic, without building the model: learnable parameters, and
// the elements of every convolution's output for one image of `image_size`
// px (what training keeps for the backward pass, a few tensors each).
struct VggShape {
  int64_t parameters = 0;
  int64_t activations_per_image = 0;
};
VggShape ShapeOf(const VggOptions& options, int image_size);

// Stores every 4-D parameter (the convolution weights) in the channels-last
// (NHWC) memory format, in place. Convolutions then run NHWC end to end,
// which is the layout cuDNN's tensor-core kernels use. Call before creating
// the optimizer: its state takes each parameter's format.
void ToChannelsLast(torch::nn::Module& module);

}  // namespace catdog::common
