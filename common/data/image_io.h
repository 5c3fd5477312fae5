// Image decoding with OpenCV. Every decoded image is 8-bit, 3-channel RGB:
// grayscale is replicated, alpha dropped, 16-bit scaled down.
//
// Thread-safe (free functions). Errors: INVALID_ARGUMENT for bytes that are no
// image OpenCV can decode; NOT_FOUND / PERMISSION_DENIED for unreadable files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <string_view>

#include <opencv2/core/mat.hpp>

#include "absl/status/statusor.h"

namespace catdog::common {

// Decodes an encoded image (JPEG, PNG, BMP, PBM/PGM/PPM, TIFF, WebP) to RGB uint8;
// other formats are refused by their signature, before any decoder runs.
absl::StatusOr<cv::Mat> DecodeImage(std::string_view encoded);

// Like DecodeImage, but lets the JPEG decoder scale down by 2, 4 or 8 in the
// DCT domain while the result stays at least `min_side` px on both axes:
// much less work when the image will be resized to min_side anyway. Other
// formats decode at full size.
absl::StatusOr<cv::Mat> DecodeImageAtLeast(std::string_view encoded, int min_side);

// Width and height from a JPEG's frame header; nullopt for other data.
std::optional<std::pair<int, int>> JpegSize(std::string_view encoded);

// Width and height from the header of a JPEG, PNG, WebP, BMP or PPM/PGM
// image, without decoding any pixel; nullopt for other or truncated data.
std::optional<std::pair<int64_t, int64_t>> ImageSize(std::string_view encoded);

// Reads a whole file into memory.
absl::StatusOr<std::string> ReadFileBytes(const std::string& path);

// ReadFileBytes + DecodeImageAtLeast (min_side 0: full size); errors name the
// path. With `confine_root` (canonical) set, the file must lie within it
// (common/data/confinement.h).
absl::StatusOr<cv::Mat> ReadImageFile(const std::string& path, int min_side = 0,
                                      const std::string& confine_root = "");

// Encodes RGB uint8 in memory; `ext` is ".png" or ".jpg".
absl::StatusOr<std::string> EncodeImage(const cv::Mat& rgb, const std::string& ext);

// Encodes RGB uint8 as PNG or JPEG by extension (".png", ".jpg") to `path`.
absl::Status WriteImageFile(const std::string& path, const cv::Mat& rgb);

}  // namespace catdog::common
