#include "common/data/transforms.h"

#include <gtest/gtest.h>
#include <opencv2/core.hpp>

#include "tests/support/test_data.h"

namespace catdog::common {
namespace {

cv::Mat Gradient(int rows, int cols) {
  cv::Mat m(rows, cols, CV_8UC3);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) m.at<cv::Vec3b>(r, c) = cv::Vec3b(c * 10, r * 10, 5);
  return m;
}

bool Equal(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

TEST(ResizeTest, ProducesExactSizeBothWays) {
  const cv::Mat img = Gradient(30, 50);
  EXPECT_EQ(Resize(img, 16, 16).size(), cv::Size(16, 16));
  EXPECT_EQ(Resize(img, 64, 80).size(), cv::Size(80, 64));
}

TEST(ResizeTest, AreaShrinkAveragesBlocks) {
  cv::Mat img(2, 2, CV_8UC3);
  img.at<cv::Vec3b>(0, 0) = {0, 0, 0};
  img.at<cv::Vec3b>(0, 1) = {100, 100, 100};
  img.at<cv::Vec3b>(1, 0) = {100, 100, 100};
  img.at<cv::Vec3b>(1, 1) = {200, 200, 200};
  EXPECT_EQ(Resize(img, 1, 1).at<cv::Vec3b>(0, 0), cv::Vec3b(100, 100, 100));
}

TEST(HorizontalFlipTest, MirrorsColumns) {
  const cv::Mat img = Gradient(3, 4);
  const cv::Mat flipped = HorizontalFlip(img);
  EXPECT_EQ(flipped.at<cv::Vec3b>(1, 0), img.at<cv::Vec3b>(1, 3));
  EXPECT_TRUE(Equal(HorizontalFlip(flipped), img));
}

TEST(RandomCropTest, KeepsSizeAndShiftsContent) {
  const cv::Mat img = Gradient(8, 8);
  Rng rng(3);
  bool shifted = false;
  for (int i = 0; i < 20; ++i) {
    const cv::Mat out = RandomCrop(img, 2, rng);
    ASSERT_EQ(out.size(), img.size());
    shifted |= !Equal(out, img);
  }
  EXPECT_TRUE(shifted);
  EXPECT_TRUE(Equal(RandomCrop(img, 0, rng), img));
}

TEST(RotateTest, HalfTurnEqualsBothFlips) {
  const cv::Mat img = Gradient(5, 5);
  cv::Mat both;
  cv::flip(img, both, -1);
  EXPECT_LE(cv::norm(Rotate(img, 180.0), both, cv::NORM_INF), 1.0);
}

TEST(ToGrayscaleTest, ChannelsAreEqual) {
  const cv::Mat gray = ToGrayscale(Gradient(4, 4));
  for (int r = 0; r < 4; ++r) {
    const cv::Vec3b px = gray.at<cv::Vec3b>(r, 2);
    EXPECT_EQ(px[0], px[1]);
    EXPECT_EQ(px[1], px[2]);
  }
}

TEST(AugmentTest, FlipProbabilityOneAlwaysFlipsAndZeroNever) {
  const cv::Mat img = Gradient(4, 6);
  AugmentOptions always;
  always.flip_probability = 1.0;
  AugmentOptions never;
  never.flip_probability = 0.0;
  Rng rng(7);
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(Equal(Augment(img, always, rng), HorizontalFlip(img)));
    EXPECT_TRUE(Equal(Augment(img, never, rng), img));
  }
}

TEST(AugmentTest, FlipRateMatchesProbability) {
  const cv::Mat img = Gradient(4, 6);
  AugmentOptions options;  // reference p = 0.3
  Rng rng(11);
  int flips = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) flips += !Equal(Augment(img, options, rng), img);
  EXPECT_NEAR(static_cast<double>(flips) / n, 0.3, 0.03);
}

TEST(RandomResizedCropTest, KeepsSizeAndZoomsIntoAWindow) {
  const cv::Mat img = Gradient(20, 20);
  Rng rng(7);
  int changed = 0;
  for (int i = 0; i < 20; ++i) {
    const cv::Mat out = RandomResizedCrop(img, 0.25, rng);
    ASSERT_EQ(out.size(), img.size());
    ASSERT_EQ(out.type(), img.type());
    changed += Equal(out, img) ? 0 : 1;
    // A window of the gradient stretched to full size: red still grows
    // left to right and never leaves the source's range.
    double lo = 0, hi = 0;
    cv::minMaxLoc(out.reshape(1, 0).colRange(0, 1), &lo, &hi);
    EXPECT_GE(lo, 0);
    EXPECT_LE(out.at<cv::Vec3b>(10, 0)[0], out.at<cv::Vec3b>(10, 19)[0]);
    EXPECT_LE(out.at<cv::Vec3b>(10, 19)[0], 190);
  }
  EXPECT_GE(changed, 18);
  // Scale 1 keeps the whole area (the window's aspect ratio is clipped to
  // the image), so a square image comes back nearly unchanged.
  Rng whole(3);
  const cv::Mat full = RandomResizedCrop(img, 1.0, whole);
  EXPECT_LE(cv::norm(full, img, cv::NORM_INF), 40);
}

TEST(RandomResizedCropTest, CutsFromALargerSourceToTheOutputSize) {
  AugmentOptions options;
  options.crop_scale_min = 0.25;
  EXPECT_DOUBLE_EQ(CropSourceScale(options), 2.0);  // the smallest window is half the side: 2x source
  options.crop_scale_min = 0.64;
  EXPECT_DOUBLE_EQ(CropSourceScale(options), 1.25);
  options.crop_scale_min = 0.01;
  EXPECT_DOUBLE_EQ(CropSourceScale(options), 2.0);  // capped
  EXPECT_DOUBLE_EQ(CropSourceScale(AugmentOptions{}), 1.0);

  const cv::Mat source = Gradient(24, 24);
  Rng rng(11);
  const cv::Mat crop = RandomResizedCrop(source, 0.25, rng, cv::Size(12, 12));
  EXPECT_EQ(crop.size(), cv::Size(12, 12));
  options.crop_scale_min = 0.25;
  Rng a(4);
  EXPECT_EQ(Augment(source, options, a, 12).size(), cv::Size(12, 12));
  // Without a resized crop, out_size resizes the whole image first.
  options.crop_scale_min = 0.0;
  options.flip_probability = 0.0;
  Rng b(4);
  EXPECT_TRUE(Equal(Augment(source, options, b, 12), Resize(source, 12, 12)));
}

TEST(ColorJitterTest, ScalesBrightnessContrastAndSaturationWithinRange) {
  cv::Mat grey(8, 8, CV_8UC3, cv::Scalar(100, 100, 100));
  Rng rng(5);
  for (int i = 0; i < 20; ++i) {
    // A uniform grey keeps its contrast and saturation; only the brightness
    // factor in [0.7, 1.3] moves it.
    const cv::Mat out = ColorJitter(grey, 0.3, rng);
    ASSERT_EQ(out.size(), grey.size());
    ASSERT_EQ(out.type(), CV_8UC3);
    const cv::Vec3b p = out.at<cv::Vec3b>(3, 3);
    EXPECT_EQ(p[0], p[1]);
    EXPECT_EQ(p[1], p[2]);
    EXPECT_GE(p[0], 70);
    EXPECT_LE(p[0], 130);
    EXPECT_EQ(cv::norm(out, cv::Mat(8, 8, CV_8UC3, cv::Scalar(p[0], p[0], p[0])), cv::NORM_INF), 0);
  }
  cv::Mat bright(4, 4, CV_8UC3, cv::Scalar(250, 10, 10));
  Rng clamp(1);
  for (int i = 0; i < 20; ++i) {
    const cv::Mat out = ColorJitter(bright, 0.9, clamp);  // factors up to 1.9 saturate, never wrap
    double lo = 0, hi = 0;
    cv::minMaxLoc(out.reshape(1, 0), &lo, &hi);
    EXPECT_LE(hi, 255);
    EXPECT_GE(lo, 0);
  }
}

TEST(AugmentTest, SameSeedSamePixels) {
  const cv::Mat img = Gradient(16, 16);
  AugmentOptions options;
  options.crop_padding = 3;
  options.rotation_degrees = 15;
  options.grayscale_probability = 0.5;
  options.crop_scale_min = 0.3;
  options.color_jitter = 0.4;
  Rng a(99), b(99);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Equal(Augment(img, options, a), Augment(img, options, b)));
}

TEST(AugmentOptionsTest, RejectsOutOfRangeValues) {
  AugmentOptions o;
  o.flip_probability = 1.5;
  EXPECT_EQ(ValidateAugmentOptions(o).code(), absl::StatusCode::kInvalidArgument);
  o = {};
  o.crop_padding = -1;
  EXPECT_EQ(ValidateAugmentOptions(o).code(), absl::StatusCode::kInvalidArgument);
  o = {};
  o.rotation_degrees = 400;
  EXPECT_EQ(ValidateAugmentOptions(o).code(), absl::StatusCode::kInvalidArgument);
  o = {};
  o.crop_scale_min = 1.5;
  EXPECT_EQ(ValidateAugmentOptions(o).code(), absl::StatusCode::kInvalidArgument);
  o = {};
  o.color_jitter = 1.0;  // a factor of 0 would blank the image
  EXPECT_EQ(ValidateAugmentOptions(o).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateAugmentOptions(AugmentOptions{}).ok());
}

}  // namespace
}  // namespace catdog::common
