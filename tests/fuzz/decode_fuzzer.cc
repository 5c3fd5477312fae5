// libFuzzer target over the serving path's preprocessing: the pixel limit
// from the header, decode (with reduced JPEG decoding), resize, augment.
// Whatever the bytes, it must return, not crash, hang or leak, and a
// decoded image must come out as size x size RGB.
//
//   tests/fuzz/run.sh BUILD_DIR [RUNS]   (builds with clang, runs the corpus)
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <opencv2/core.hpp>

#include "common/data/image_io.h"
#include "common/data/random.h"
#include "common/data/transforms.h"

namespace {
constexpr int kSize = 64;                       // the model's input side
constexpr int64_t kMaxPixels = 50'000'000;      // catdogd's --max-image-pixels default
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // OpenCV's own cap (for formats whose header catdog does not parse), as
  // catdogd sets it.
  setenv("OPENCV_IO_MAX_IMAGE_PIXELS", std::to_string(kMaxPixels).c_str(), 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (const auto dims = catdog::common::ImageSize(bytes); dims && dims->first * dims->second > kMaxPixels) {
    return 0;  // refused before decoding, as the server does
  }
  absl::StatusOr<cv::Mat> image = catdog::common::DecodeImageAtLeast(bytes, kSize);
  if (!image.ok()) return 0;
  if (image->empty() || image->type() != CV_8UC3) std::abort();
  const cv::Mat resized = catdog::common::Resize(*image, kSize, kSize);
  if (resized.rows != kSize || resized.cols != kSize || resized.type() != CV_8UC3) std::abort();
  catdog::common::Rng rng(size);
  const catdog::common::AugmentOptions augment{0.5, 4, 10.0, 0.2};
  const cv::Mat out = catdog::common::Augment(resized, augment, rng);
  if (out.rows != kSize || out.cols != kSize) std::abort();
  return 0;
}
