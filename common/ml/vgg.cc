#include "common/ml/vgg.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"

namespace catdog::common {
namespace {

// Output channels of each conv in each block (the reference's third block
// ends in 512, unlike torchvision's VGG16).
struct ConvBlockSpec {
  std::array<int, 3> channels;
  int num_convs;
};
constexpr std::array<ConvBlockSpec, 5> kVgg16Blocks = {{
    {{64, 64, 0}, 2},
    {{128, 128, 0}, 2},
    {{256, 256, 512}, 3},
    {{512, 512, 512}, 3},
    {{512, 512, 512}, 3},
}};
constexpr int kHiddenUnits = 64;  // classifier width between the two linears

int Scaled(int channels, double width) {
  return std::max(1, static_cast<int>(std::lround(channels * width)));
}

// (3x3 conv, BN, ReLU) per conv, then a 2x2 max-pool: children 0..3n.
torch::nn::Sequential MakeConvBlock(int in_channels, const ConvBlockSpec& spec, double width,
                                    int* out_channels) {
  torch::nn::Sequential block;
  for (int i = 0; i < spec.num_convs; ++i) {
    const int out = Scaled(spec.channels[static_cast<size_t>(i)], width);
    block->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out, 3).padding(1)));
    block->push_back(torch::nn::BatchNorm2d(out));
    block->push_back(torch::nn::ReLU());
    in_channels = out;
  }
  block->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2)));
  *out_channels = in_channels;
  return block;
}

}  // namespace

absl::Status ValidateVggOptions(const VggOptions& options) {
  if (options.num_classes < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("need at least 2 classes, got ", options.num_classes));
  }
  if (!(options.width > 0.0 && options.width <= 4.0)) {
    return absl::InvalidArgumentError(absl::StrCat("width must be in (0, 4], got ", options.width));
  }
  return absl::OkStatus();
}

Vgg16Impl::Vgg16Impl(const VggOptions& options) : options_(options) {
  torch::nn::Sequential* blocks[] = {&conv_block1_, &conv_block2_, &conv_block3_, &conv_block4_,
                                     &conv_block5_};
  int channels = 3;
  for (size_t b = 0; b < kVgg16Blocks.size(); ++b) {
    *blocks[b] = register_module(absl::StrCat("conv_block", b + 1),
                                 MakeConvBlock(channels, kVgg16Blocks[b], options.width, &channels));
  }
  const int hidden = Scaled(kHiddenUnits, options.width);
  classifier_ = register_module(
      "classifier", torch::nn::Sequential(torch::nn::Linear(channels, hidden),
                                          torch::nn::BatchNorm1d(hidden), torch::nn::ReLU(),
                                          torch::nn::Linear(hidden, options.num_classes)));
}

torch::Tensor Vgg16Impl::forward(torch::Tensor x) {
  x = conv_block1_->forward(x);
  x = conv_block2_->forward(x);
  x = conv_block3_->forward(x);
  x = conv_block4_->forward(x);
  x = conv_block5_->forward(x);
  // AdaptiveAvgPool2d(1) + flatten == mean over the spatial dimensions.
  x = x.mean({2, 3});
  return classifier_->forward(x);
}

VggShape ShapeOf(const VggOptions& options, int image_size) {
  VggShape shape;
  int64_t channels = 3, side = image_size;
  for (const ConvBlockSpec& block : kVgg16Blocks) {
    for (int i = 0; i < block.num_convs; ++i) {
      const int64_t out = Scaled(block.channels[static_cast<size_t>(i)], options.width);
      shape.parameters += channels * out * 9 + out + 2 * out;  // conv weight, bias; BN gamma, beta
      shape.activations_per_image += out * side * side;
      channels = out;
    }
    side /= 2;
  }
  const int64_t hidden = Scaled(kHiddenUnits, options.width);
  shape.parameters += channels * hidden + hidden + 2 * hidden + hidden * options.num_classes + options.num_classes;
  return shape;
}

int64_t CountParameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

void ToChannelsLast(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

}  // namespace catdog::common
