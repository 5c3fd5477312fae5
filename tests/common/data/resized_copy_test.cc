#include "common/data/resized_copy.h"

#include <filesystem>
#include <map>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/data/image_io.h"
#include "common/data/transforms.h"
#include "tests/support/test_data.h"

namespace catdog::common {
namespace {

namespace fs = std::filesystem;
using catdog::testing::SyntheticImage;
using catdog::testing::TempDir;
using catdog::testing::WriteFile;

std::string Encode(const cv::Mat& rgb, const std::string& ext) {
  absl::StatusOr<std::string> bytes = EncodeImage(rgb, ext);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : "";
}

// What the training loader feeds the model at `size` for these bytes.
cv::Mat LoaderView(const std::string& bytes, int size) {
  absl::StatusOr<cv::Mat> rgb = DecodeImageAtLeast(bytes, size);
  EXPECT_TRUE(rgb.ok()) << rgb.status();
  return Resize(*rgb, size, size);
}

TEST(ResizedCopyTest, CopiesTheTreeAsTheLoaderSeesIt) {
  TempDir dir;
  const std::string src = dir.Sub("src"), dst = dir.Sub("copy");
  std::map<std::string, std::string> originals = {
      {"train/cat/a.png", Encode(SyntheticImage(0, 60, 1), ".png")},
      {"train/dog/b.jpg", Encode(SyntheticImage(1, 100, 2), ".jpg")},
      {"test/cat/c.bmp", Encode(SyntheticImage(0, 45, 3), ".bmp")}};
  for (const auto& [rel, bytes] : originals) WriteFile(src + "/" + rel, bytes);
  WriteFile(src + "/train/notes.txt", "not an image");

  auto stats = WriteResizedCopy(src, dst, 32, 95);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->images, 3);
  EXPECT_TRUE(stats->failed.empty());
  EXPECT_FALSE(fs::exists(dst + "/train/notes.txt"));
  const std::map<std::string, std::string> copies = {{"train/cat/a.png", "train/cat/a.png.jpg"},
                                                     {"train/dog/b.jpg", "train/dog/b.jpg"},
                                                     {"test/cat/c.bmp", "test/cat/c.bmp.jpg"}};
  for (const auto& [rel, copy] : copies) {
    absl::StatusOr<std::string> bytes = ReadFileBytes(dst + "/" + copy);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    const cv::Mat seen_in_copy = LoaderView(*bytes, 32);
    EXPECT_EQ(seen_in_copy.size(), cv::Size(32, 32)) << copy;
    // Exactly what the loader makes of the original at 32 px, through one JPEG round trip.
    cv::Mat bgr;
    cv::cvtColor(LoaderView(originals[rel], 32), bgr, cv::COLOR_RGB2BGR);
    std::vector<uchar> jpeg;
    ASSERT_TRUE(cv::imencode(".jpg", bgr, jpeg, {cv::IMWRITE_JPEG_QUALITY, 95}));
    cv::Mat expected;
    cv::cvtColor(cv::imdecode(jpeg, cv::IMREAD_COLOR), expected, cv::COLOR_BGR2RGB);
    EXPECT_EQ(cv::norm(seen_in_copy, expected, cv::NORM_INF), 0.0) << copy;
  }
}

TEST(ResizedCopyTest, ListsImagesThatDoNotDecodeAndCopiesTheRest) {
  TempDir dir;
  WriteFile(dir.Sub("src/cat/good.png"), Encode(SyntheticImage(0, 40, 1), ".png"));
  WriteFile(dir.Sub("src/cat/broken.jpg"), "\xff\xd8\xff truncated");
  auto stats = WriteResizedCopy(dir.Sub("src"), dir.Sub("copy"), 16, 85);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->images, 1);
  ASSERT_EQ(stats->failed.size(), 1u);
  EXPECT_NE(stats->failed[0].find("cat/broken.jpg"), std::string::npos) << stats->failed[0];
  EXPECT_TRUE(fs::exists(dir.Sub("copy/cat/good.png.jpg")));
}

TEST(ResizedCopyTest, RefusesToWriteOverAnythingAndBadArguments) {
  TempDir dir;
  WriteFile(dir.Sub("src/cat/a.png"), Encode(SyntheticImage(0, 40, 1), ".png"));
  WriteFile(dir.Sub("used/keep.txt"), "someone's file");
  EXPECT_EQ(WriteResizedCopy(dir.Sub("src"), dir.Sub("used"), 16, 85).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(fs::exists(dir.Sub("used/keep.txt")));
  EXPECT_EQ(WriteResizedCopy(dir.Sub("missing"), dir.Sub("new"), 16, 85).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(WriteResizedCopy(dir.Sub("src"), dir.Sub("new"), 0, 85).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteResizedCopy(dir.Sub("src"), dir.Sub("new"), 16, 101).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ResizedCopyTest, AnUnwritableDestinationStopsWithItsPath) {
  TempDir dir;
  WriteFile(dir.Sub("src/cat/a.png"), Encode(SyntheticImage(0, 40, 1), ".png"));
  WriteFile(dir.Sub("blocker"), "a file where the copy needs a folder");
  auto stats = WriteResizedCopy(dir.Sub("src"), dir.Sub("blocker/copy"), 16, 85);
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(stats.status().message().find("blocker"), std::string::npos) << stats.status();
}

}  // namespace
}  // namespace catdog::common
