#include "common/ml/vgg.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace catdog::common {
namespace {

TEST(Vgg16Test, ReferenceParameterCount) {
  Vgg16 model(VggOptions{});
  EXPECT_EQ(CountParameters(*model), 16526466);
}

TEST(Vgg16Test, ShapeArithmeticMatchesTheModule) {
  for (const VggOptions& options : {VggOptions{2, 1.0}, VggOptions{3, 0.25}, VggOptions{5, 0.5}}) {
    Vgg16 model(options);
    EXPECT_EQ(ShapeOf(options, 64).parameters, CountParameters(*model)) << options.width;
  }
  // Every convolution's output at 64 px: 64x64 maps in block 1, halved per block.
  const VggShape shape = ShapeOf(VggOptions{}, 64);
  EXPECT_EQ(shape.activations_per_image,
            (64 + 64) * 64 * 64 + (128 + 128) * 32 * 32 + (256 + 256 + 512) * 16 * 16 +
                (512 * 3) * 8 * 8 + (512 * 3) * 4 * 4);
}

TEST(Vgg16Test, ReferenceParameterAndBufferNames) {
  Vgg16 model(VggOptions{});
  std::vector<std::string> names;
  for (const auto& p : model->named_parameters()) names.push_back(p.key());
  ASSERT_EQ(names.size(), 2u * 13 + 2u * 13 + 6u);  // conv w/b, bn w/b, linear+bn1d+linear
  EXPECT_EQ(names.front(), "conv_block1.0.weight");
  EXPECT_EQ(names[2], "conv_block1.1.weight");  // BatchNorm2d after the conv
  EXPECT_EQ(names.back(), "classifier.3.bias");
  const std::set<std::string> expected = {
      "conv_block1.3.weight", "conv_block2.0.weight", "conv_block3.6.weight",
      "conv_block3.7.bias",   "conv_block5.7.weight", "classifier.0.weight",
      "classifier.1.weight",  "classifier.1.bias",    "classifier.3.weight"};
  for (const auto& name : expected) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  std::set<std::string> buffers;
  for (const auto& b : model->named_buffers()) buffers.insert(b.key());
  EXPECT_TRUE(buffers.count("conv_block1.1.running_mean"));
  EXPECT_TRUE(buffers.count("conv_block1.1.running_var"));
  EXPECT_TRUE(buffers.count("conv_block1.1.num_batches_tracked"));
  EXPECT_TRUE(buffers.count("classifier.1.running_var"));
}

TEST(Vgg16Test, ThirdBlockEndsIn512Channels) {
  Vgg16 model(VggOptions{});
  for (const auto& p : model->named_parameters()) {
    if (p.key() == "conv_block3.6.weight") {
      EXPECT_EQ(p.value().sizes(), (std::vector<int64_t>{512, 256, 3, 3}));
    }
  }
}

TEST(Vgg16Test, AnyClassCountAndInputSizeFromThirtyTwo) {
  torch::manual_seed(0);
  Vgg16 model(VggOptions{5, 0.125});
  model->eval();
  torch::NoGradGuard no_grad;
  for (int size : {32, 45, 64}) {
    auto out = model->forward(torch::rand({2, 3, size, size}));
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 5})) << size;
  }
}

TEST(Vgg16Test, WidthMultiplierScalesChannels) {
  Vgg16 model(VggOptions{2, 0.25});
  for (const auto& p : model->named_parameters()) {
    if (p.key() == "conv_block1.0.weight") {
      EXPECT_EQ(p.value().size(0), 16);
    }
    if (p.key() == "classifier.0.weight") {
      EXPECT_EQ(p.value().sizes(), (std::vector<int64_t>{16, 128}));
    }
  }
  EXPECT_LT(CountParameters(*model), 16526466 / 10);
}

TEST(Vgg16Test, RejectsBadOptions) {
  EXPECT_FALSE(ValidateVggOptions({1, 1.0}).ok());
  EXPECT_FALSE(ValidateVggOptions({2, 0.0}).ok());
  EXPECT_TRUE(ValidateVggOptions({2, 1.0}).ok());
}

}  // namespace
}  // namespace catdog::common
