#include "common/data/image_io.h"

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

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

TEST(DecodeImageTest, EveryDocumentedFormatDecodes) {
  const cv::Mat image(6, 9, CV_8UC3, cv::Scalar(1, 2, 3));
  const cv::Mat gray(6, 9, CV_8UC1, cv::Scalar(7));
  for (const std::string ext : {".jpg", ".png", ".webp", ".bmp", ".tif", ".ppm", ".pgm", ".pbm"}) {
    auto rgb = DecodeImage(Encode(ext == ".pgm" || ext == ".pbm" ? gray : image, ext));
    ASSERT_TRUE(rgb.ok()) << ext << ": " << rgb.status();
    EXPECT_EQ(rgb->size(), cv::Size(9, 6)) << ext;
  }
}

TEST(DecodeImageTest, OtherFormatsAreRefusedBeforeAnyDecoderRuns) {
  // OpenCV itself decodes these; the signature check is what refuses them.
  const cv::Mat image(64, 64, CV_8UC3, cv::Scalar(1, 2, 3));
  for (const char* ext : {".jp2", ".sr", ".hdr"}) {
    const std::string bytes = Encode(image, ext);
    ASSERT_FALSE(cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1,
                                      const_cast<char*>(bytes.data())),
                              cv::IMREAD_ANYCOLOR)
                     .empty())
        << ext;
    const auto decoded = DecodeImage(bytes);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument) << ext;
    EXPECT_NE(decoded.status().message().find("not a supported image format"), std::string::npos);
  }
  // A DICOM preamble (GDCM's parser) and OpenEXR's magic never reach OpenCV.
  EXPECT_EQ(DecodeImage(std::string(128, '\0') + "DICM" + std::string(64, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeImage(std::string("\x76\x2f\x31\x01", 4) + std::string(64, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DecodeImageTest, TruncatedJpegIsInvalidArgument) {
  const std::string jpeg = Encode(cv::Mat(64, 64, CV_8UC3, cv::Scalar(1, 2, 3)), ".jpg");
  EXPECT_EQ(DecodeImage(jpeg.substr(0, 20)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(JpegSizeTest, ReadsTheFrameHeader) {
  const std::string jpeg = Encode(cv::Mat(37, 91, CV_8UC3, cv::Scalar(1, 2, 3)), ".jpg");
  const auto size = JpegSize(jpeg);
  ASSERT_TRUE(size.has_value());
  EXPECT_EQ(size->first, 91);
  EXPECT_EQ(size->second, 37);
  EXPECT_FALSE(JpegSize(Encode(cv::Mat(4, 4, CV_8UC3), ".png")).has_value());
  EXPECT_FALSE(JpegSize(jpeg.substr(0, 3)).has_value());
  EXPECT_FALSE(JpegSize("").has_value());
}

TEST(ImageSizeTest, ReadsEveryParsedFormatsHeader) {
  const cv::Mat image(37, 91, CV_8UC3, cv::Scalar(1, 2, 3));
  for (const char* ext : {".jpg", ".png", ".webp", ".bmp", ".ppm", ".pgm"}) {
    cv::Mat input = image;
    if (std::string(ext) == ".pgm") cv::cvtColor(image, input, cv::COLOR_BGR2GRAY);
    const auto size = ImageSize(Encode(input, ext));
    ASSERT_TRUE(size.has_value()) << ext;
    EXPECT_EQ(size->first, 91) << ext;
    EXPECT_EQ(size->second, 37) << ext;
  }
  // Lossless WebP has its own header layout.
  std::vector<uchar> lossless;
  cv::imencode(".webp", image, lossless, {cv::IMWRITE_WEBP_QUALITY, 101});
  const auto webp = ImageSize(std::string(lossless.begin(), lossless.end()));
  ASSERT_TRUE(webp.has_value());
  EXPECT_EQ(*webp, (std::pair<int64_t, int64_t>{91, 37}));
  EXPECT_FALSE(ImageSize("garbage, not an image").has_value());
  EXPECT_FALSE(ImageSize("").has_value());
}

TEST(ImageSizeTest, ReadsABombsSizeWithoutDecodingIt) {
  const std::string bomb = catdog::testing::PngBomb(12000, 12000);  // 144 MP of zeros
  EXPECT_LT(bomb.size(), 1u << 20);
  EXPECT_EQ(ImageSize(bomb), (std::pair<int64_t, int64_t>{12000, 12000}));
}

TEST(DecodeImageAtLeastTest, JpegIsReducedButNeverBelowMinSide) {
  const cv::Mat big = catdog::testing::SyntheticImage(1, 512, 4);
  cv::Mat bgr;
  cv::cvtColor(big, bgr, cv::COLOR_RGB2BGR);
  const std::string jpeg = Encode(bgr, ".jpg");
  for (int min_side : {32, 64, 100, 256, 400}) {
    auto image = DecodeImageAtLeast(jpeg, min_side);
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_GE(image->rows, min_side);
    EXPECT_LE(image->rows, 2 * min_side) << "should have been reduced further";
    EXPECT_EQ(image->type(), CV_8UC3);
  }
  // Same picture as a full decode, up to JPEG scaling error.
  auto full = DecodeImage(jpeg);
  auto reduced = DecodeImageAtLeast(jpeg, 64);
  ASSERT_TRUE(full.ok() && reduced.ok());
  cv::Mat a, b;
  cv::resize(*full, a, cv::Size(64, 64), 0, 0, cv::INTER_AREA);
  cv::resize(*reduced, b, cv::Size(64, 64), 0, 0, cv::INTER_AREA);
  EXPECT_LT(cv::norm(a, b, cv::NORM_L1) / (64.0 * 64 * 3), 4.0);
}

TEST(DecodeImageAtLeastTest, OtherFormatsDecodeAtFullSize) {
  const std::string png = Encode(cv::Mat(300, 200, CV_8UC3, cv::Scalar(9, 9, 9)), ".png");
  auto image = DecodeImageAtLeast(png, 32);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->size(), cv::Size(200, 300));
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
