#include "common/image_io.h"

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "tests/support/test_data.h"

namespace catdog::common {
namespace {

std::string Encode(const cv::Mat& raw_opencv_order, const std::string& ext) {
  std::vector<uchar> buf;
  cv::imencode(ext, raw_opencv_order, buf);
  return std::string(buf.begin(), buf.end());
}

TEST(DecodeImageTest, KeepsRgbChannelOrder) {
  cv::Mat bgr(4, 4, CV_8UC3, cv::Scalar(10, 20, 200));  // OpenCV order: B, G, R
  auto rgb = DecodeImage(Encode(bgr, ".png"));
  ASSERT_TRUE(rgb.ok()) << rgb.status();
  EXPECT_EQ(rgb->type(), CV_8UC3);
  EXPECT_EQ(rgb->at<cv::Vec3b>(0, 0), cv::Vec3b(200, 20, 10));
}

TEST(DecodeImageTest, GrayscaleBecomesThreeEqualChannels) {
  cv::Mat gray(5, 3, CV_8UC1, cv::Scalar(77));
  auto rgb = DecodeImage(Encode(gray, ".png"));
  ASSERT_TRUE(rgb.ok()) << rgb.status();
  EXPECT_EQ(rgb->channels(), 3);
  EXPECT_EQ(rgb->size(), cv::Size(3, 5));
  EXPECT_EQ(rgb->at<cv::Vec3b>(2, 1), cv::Vec3b(77, 77, 77));
}

TEST(DecodeImageTest, AlphaChannelIsDropped) {
  cv::Mat bgra(2, 2, CV_8UC4, cv::Scalar(1, 2, 3, 128));
  auto rgb = DecodeImage(Encode(bgra, ".png"));
  ASSERT_TRUE(rgb.ok()) << rgb.status();
  EXPECT_EQ(rgb->channels(), 3);
  EXPECT_EQ(rgb->at<cv::Vec3b>(1, 1), cv::Vec3b(3, 2, 1));
}

TEST(DecodeImageTest, SixteenBitIsScaledToEightBit) {
  cv::Mat deep(2, 2, CV_16UC3, cv::Scalar(65535, 0, 32896));
  auto rgb = DecodeImage(Encode(deep, ".png"));
  ASSERT_TRUE(rgb.ok()) << rgb.status();
  EXPECT_EQ(rgb->depth(), CV_8U);
  EXPECT_EQ(rgb->at<cv::Vec3b>(0, 0), cv::Vec3b(128, 0, 255));
}

TEST(DecodeImageTest, GarbageIsInvalidArgument) {
  EXPECT_EQ(DecodeImage("definitely not an image").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeImage("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DecodeImageTest, TruncatedJpegIsInvalidArgument) {
  const std::string jpeg = Encode(cv::Mat(64, 64, CV_8UC3, cv::Scalar(1, 2, 3)), ".jpg");
  EXPECT_EQ(DecodeImage(jpeg.substr(0, 20)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReadImageFileTest, MissingFileIsNotFoundAndNamesThePath) {
  auto image = ReadImageFile("/nonexistent/cat.jpg");
  EXPECT_EQ(image.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(image.status().message().find("/nonexistent/cat.jpg"), std::string::npos);
}

TEST(ReadImageFileTest, UndecodableFileNamesThePath) {
  testing::TempDir dir;
  testing::WriteFile(dir.Sub("bad.jpg"), "nope");
  auto image = ReadImageFile(dir.Sub("bad.jpg"));
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(image.status().message().find("bad.jpg"), std::string::npos);
}

}  // namespace
}  // namespace catdog::common
