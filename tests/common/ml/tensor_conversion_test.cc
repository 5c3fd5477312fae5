#include "common/ml/tensor_conversion.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/support/test_data.h"

namespace catdog::common {
namespace {

TEST(ToTensorTest, ChwFloatInUnitRangeKeepingRgbOrder) {
  cv::Mat rgb(2, 3, CV_8UC3, cv::Scalar(255, 0, 51));  // R, G, B
  rgb.at<cv::Vec3b>(1, 2) = cv::Vec3b(0, 102, 0);
  const at::Tensor t = ToTensor(rgb);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 2, 3}));
  EXPECT_EQ(t.scalar_type(), torch::kFloat32);
  EXPECT_FLOAT_EQ(t[0][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(t[1][0][0].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(t[2][0][0].item<float>(), 0.2f);
  EXPECT_FLOAT_EQ(t[1][1][2].item<float>(), 0.4f);
}

TEST(ToTensorTest, HandlesNonContinuousViews) {
  const cv::Mat big = catdog::testing::SyntheticImage(0, 10, 3);
  const cv::Mat view = big(cv::Rect(2, 3, 4, 5));
  ASSERT_FALSE(view.isContinuous());
  EXPECT_TRUE(torch::equal(ToTensor(view), ToTensor(view.clone())));
}

TEST(NormalizeTest, SubtractsMeanAndDividesByStdPerChannel) {
  auto x = torch::ones({2, 3, 1, 1});
  const auto y = Normalize(x, {0.5f, 0.0f, 1.0f}, {0.5f, 2.0f, 1.0f});
  EXPECT_FLOAT_EQ(y[1][0][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(y[1][1][0][0].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(y[1][2][0][0].item<float>(), 0.0f);
  EXPECT_EQ(Normalize(torch::ones({3, 4, 4}), {0, 0, 0}, {1, 1, 1}).sizes(),
            (std::vector<int64_t>{3, 4, 4}));
}

TEST(ImagesToBatchTest, StacksToTensorOfEachImage) {
  std::vector<cv::Mat> images = {catdog::testing::SyntheticImage(0, 8, 1),
                                 catdog::testing::SyntheticImage(1, 8, 2)};
  Preprocessing p;
  const at::Tensor batch = ImagesToBatch(images, p);
  EXPECT_TRUE(torch::equal(batch, torch::stack({ToTensor(images[0]), ToTensor(images[1])})));
  p.normalize = true;
  EXPECT_TRUE(torch::allclose(ImagesToBatch(images, p), Normalize(batch, p.mean, p.std)));
}

}  // namespace
}  // namespace catdog::common
