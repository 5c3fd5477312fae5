#include "common/image_io.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"

namespace catdog::common {

absl::StatusOr<cv::Mat> DecodeImage(std::string_view encoded) {
  if (encoded.empty()) return absl::InvalidArgumentError("empty image data");
  cv::Mat decoded;
  try {
    // imdecode does not modify its input; the const_cast only satisfies the API.
    const cv::Mat raw(1, static_cast<int>(encoded.size()), CV_8UC1,
                      const_cast<char*>(encoded.data()));
    decoded = cv::imdecode(raw, cv::IMREAD_ANYCOLOR | cv::IMREAD_ANYDEPTH);
  } catch (const cv::Exception& e) {
    spdlog::debug("cv::imdecode threw: {}", e.what());
    return absl::InvalidArgumentError(absl::StrCat("cannot decode image: ", e.err));
  }
  if (decoded.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot decode image (", encoded.size(),
                     " bytes): not a supported image format or truncated"));
  }
  if (decoded.depth() == CV_16U) decoded.convertTo(decoded, CV_8U, 1.0 / 257.0);
  if (decoded.depth() != CV_8U) {
    return absl::InvalidArgumentError("unsupported image sample type (expected 8 or 16 bit)");
  }
  cv::Mat rgb;
  switch (decoded.channels()) {
    case 1: cv::cvtColor(decoded, rgb, cv::COLOR_GRAY2RGB); break;
    case 3: cv::cvtColor(decoded, rgb, cv::COLOR_BGR2RGB); break;
    case 4: cv::cvtColor(decoded, rgb, cv::COLOR_BGRA2RGB); break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported channel count ", decoded.channels()));
  }
  return rgb;
}

absl::StatusOr<std::string> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string why = std::strerror(err);
    if (err == EACCES) return absl::PermissionDeniedError(absl::StrCat(path, ": ", why));
    return absl::NotFoundError(absl::StrCat(path, ": ", why));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return std::move(buffer).str();
}

absl::StatusOr<cv::Mat> ReadImageFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileBytes(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<cv::Mat> image = DecodeImage(*bytes);
  if (!image.ok()) {
    return absl::Status(image.status().code(),
                        absl::StrCat(path, ": ", image.status().message()));
  }
  return image;
}

absl::Status WriteImageFile(const std::string& path, const cv::Mat& rgb) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  try {
    if (!cv::imwrite(path, bgr)) {
      return absl::InvalidArgumentError(absl::StrCat("cannot write image ", path));
    }
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot write image ", path, ": ", e.err));
  }
  return absl::OkStatus();
}

}  // namespace catdog::common
