#include "common/data/image_io.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "common/data/confinement.h"

namespace catdog::common {

namespace {

// The formats we decode, by their signatures. Everything else is refused before
// imdecode sees it, which keeps OpenCV's other parsers (DICOM through GDCM,
// OpenEXR, JPEG 2000, HDR, GDAL's rasters) out of reach of network input; the
// GPU bundle (deploy/gpu-bundle.sh) replaces GDCM, OpenEXR and GDAL with stubs.
bool HasSupportedSignature(std::string_view d) {
  const auto starts = [&](std::string_view magic) { return d.substr(0, magic.size()) == magic; };
  return starts("\xff\xd8\xff") ||                                      // JPEG
         starts("\x89PNG\r\n\x1a\n") ||                                // PNG
         starts("BM") ||                                                // BMP
         (starts("RIFF") && d.size() >= 12 && d.substr(8, 4) == "WEBP") ||  // WebP
         starts(std::string_view("II*\0", 4)) || starts(std::string_view("MM\0*", 4)) ||  // TIFF
         (d.size() >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6');  // PBM/PGM/PPM
}

// imdecode with `flags`, then to 8-bit RGB.
absl::StatusOr<cv::Mat> DecodeWithFlags(std::string_view encoded, int flags) {
  if (encoded.empty()) return absl::InvalidArgumentError("empty image data");
  if (!HasSupportedSignature(encoded)) {
    return absl::InvalidArgumentError(
        "not a supported image format (JPEG, PNG, WebP, BMP, TIFF, PBM/PGM/PPM)");
  }
  cv::Mat decoded;
  try {
    // imdecode does not modify its input; the const_cast only satisfies the API.
    const cv::Mat raw(1, static_cast<int>(encoded.size()), CV_8UC1,
                      const_cast<char*>(encoded.data()));
    decoded = cv::imdecode(raw, flags);
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

}  // namespace

absl::StatusOr<cv::Mat> DecodeImage(std::string_view encoded) {
  return DecodeWithFlags(encoded, cv::IMREAD_ANYCOLOR | cv::IMREAD_ANYDEPTH);
}

std::optional<std::pair<int, int>> JpegSize(std::string_view d) {
  auto byte = [&d](size_t i) { return static_cast<unsigned char>(d[i]); };
  if (d.size() < 4 || byte(0) != 0xFF || byte(1) != 0xD8) return std::nullopt;
  size_t pos = 2;
  while (pos + 4 <= d.size()) {
    if (byte(pos) != 0xFF) return std::nullopt;
    const unsigned marker = byte(pos + 1);
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD9)) {  // no length field
      pos += 2;
      continue;
    }
    const size_t length = (byte(pos + 2) << 8) | byte(pos + 3);
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): frame header.
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      if (pos + 9 > d.size()) return std::nullopt;
      const int height = (byte(pos + 5) << 8) | byte(pos + 6);
      const int width = (byte(pos + 7) << 8) | byte(pos + 8);
      return std::make_pair(width, height);
    }
    pos += 2 + length;
  }
  return std::nullopt;
}

namespace {

uint32_t Be32(std::string_view d, size_t i) {
  return (static_cast<uint32_t>(static_cast<unsigned char>(d[i])) << 24) |
         (static_cast<uint32_t>(static_cast<unsigned char>(d[i + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<unsigned char>(d[i + 2])) << 8) |
         static_cast<uint32_t>(static_cast<unsigned char>(d[i + 3]));
}
uint32_t Le32(std::string_view d, size_t i) {
  return static_cast<uint32_t>(static_cast<unsigned char>(d[i])) |
         (static_cast<uint32_t>(static_cast<unsigned char>(d[i + 1])) << 8) |
         (static_cast<uint32_t>(static_cast<unsigned char>(d[i + 2])) << 16) |
         (static_cast<uint32_t>(static_cast<unsigned char>(d[i + 3])) << 24);
}
uint32_t Le24(std::string_view d, size_t i) { return Le32(d, i) & 0xFFFFFF; }  // d[i + 3] exists

std::optional<std::pair<int64_t, int64_t>> WebpSize(std::string_view d) {
  if (d.size() < 31 || d.substr(0, 4) != "RIFF" || d.substr(8, 4) != "WEBP") return std::nullopt;
  const std::string_view chunk = d.substr(12, 4);
  if (chunk == "VP8X") return std::make_pair(int64_t{Le24(d, 24)} + 1, int64_t{Le24(d, 27)} + 1);
  if (chunk == "VP8L") {  // 14-bit width - 1 and height - 1 after the 0x2f signature
    const uint32_t bits = Le32(d, 21);
    return std::make_pair(int64_t{(bits & 0x3FFF) + 1}, int64_t{((bits >> 14) & 0x3FFF) + 1});
  }
  if (chunk == "VP8 ") {  // key frame: start code, then 14-bit width and height
    const uint32_t w = Le32(d, 26) & 0x3FFF, h = (Le32(d, 26) >> 16) & 0x3FFF;
    return std::make_pair(int64_t{w}, int64_t{h});
  }
  return std::nullopt;
}

// "P5" / "P6" and friends: magic, then width and height as decimal text.
std::optional<std::pair<int64_t, int64_t>> PnmSize(std::string_view d) {
  if (d.size() < 2 || d[0] != 'P' || d[1] < '1' || d[1] > '6') return std::nullopt;
  int64_t values[2];
  size_t pos = 2;
  for (int64_t& v : values) {
    while (pos < d.size() && (std::isspace(static_cast<unsigned char>(d[pos])) || d[pos] == '#')) {
      if (d[pos] == '#') {
        while (pos < d.size() && d[pos] != '\n') ++pos;
      } else {
        ++pos;
      }
    }
    if (pos >= d.size() || !std::isdigit(static_cast<unsigned char>(d[pos]))) return std::nullopt;
    v = 0;
    while (pos < d.size() && std::isdigit(static_cast<unsigned char>(d[pos])) && v < (int64_t{1} << 40)) {
      v = v * 10 + (d[pos++] - '0');
    }
  }
  return std::make_pair(values[0], values[1]);
}

}  // namespace

std::optional<std::pair<int64_t, int64_t>> ImageSize(std::string_view d) {
  if (auto jpeg = JpegSize(d)) return std::make_pair(int64_t{jpeg->first}, int64_t{jpeg->second});
  if (d.size() >= 24 && d.substr(0, 8) == "\x89PNG\r\n\x1a\n" && d.substr(12, 4) == "IHDR") {
    return std::make_pair(int64_t{Be32(d, 16)}, int64_t{Be32(d, 20)});
  }
  if (d.size() >= 26 && d.substr(0, 2) == "BM") {  // BITMAPINFOHEADER; a negative height is top-down
    const int64_t width = static_cast<int32_t>(Le32(d, 18));
    const int64_t height = static_cast<int32_t>(Le32(d, 22));
    return std::make_pair(width, std::abs(height));
  }
  if (auto webp = WebpSize(d)) return webp;
  return PnmSize(d);
}

absl::StatusOr<cv::Mat> DecodeImageAtLeast(std::string_view encoded, int min_side) {
  const std::optional<std::pair<int, int>> size = min_side > 0 ? JpegSize(encoded) : std::nullopt;
  if (size) {
    const int shorter = std::min(size->first, size->second);
    for (const auto& [factor, flag] : {std::pair{8, cv::IMREAD_REDUCED_COLOR_8},
                                       std::pair{4, cv::IMREAD_REDUCED_COLOR_4},
                                       std::pair{2, cv::IMREAD_REDUCED_COLOR_2}}) {
      // Reduced decoding rounds sizes up, so shorter / factor is a floor.
      if (shorter / factor >= min_side) return DecodeWithFlags(encoded, flag);
    }
  }
  return DecodeImage(encoded);
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

absl::StatusOr<cv::Mat> ReadImageFile(const std::string& path, int min_side,
                                      const std::string& confine_root) {
  absl::StatusOr<std::string> bytes =
      confine_root.empty() ? ReadFileBytes(path) : ReadFileWithin(confine_root, path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<cv::Mat> image = DecodeImageAtLeast(*bytes, min_side);
  if (!image.ok()) {
    return absl::Status(image.status().code(),
                        absl::StrCat(path, ": ", image.status().message()));
  }
  return image;
}

absl::StatusOr<std::string> EncodeImage(const cv::Mat& rgb, const std::string& ext) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<uchar> bytes;
  try {
    if (!cv::imencode(ext, bgr, bytes)) return absl::InvalidArgumentError(absl::StrCat("cannot encode ", ext));
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot encode ", ext, ": ", e.err));
  }
  return std::string(bytes.begin(), bytes.end());
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
