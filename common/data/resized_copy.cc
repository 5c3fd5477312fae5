#include "common/data/resized_copy.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/data/image_folder.h"
#include "common/data/image_io.h"
#include "common/data/transforms.h"

namespace catdog::common {

namespace fs = std::filesystem;

absl::StatusOr<ResizedCopyStats> WriteResizedCopy(const std::string& src, const std::string& dst,
                                                  int size, int quality) {
  if (size < 8 || size > 4096) return absl::InvalidArgumentError(absl::StrCat("size must be in [8, 4096], got ", size));
  if (quality < 1 || quality > 100) {
    return absl::InvalidArgumentError(absl::StrCat("JPEG quality must be in [1, 100], got ", quality));
  }
  std::error_code ec;
  if (!fs::is_directory(src, ec)) return absl::NotFoundError(absl::StrCat(src, ": not a directory"));
  if (fs::exists(dst, ec) && !fs::is_empty(dst, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(dst, " is not empty; choose a new folder"));
  }
  std::vector<fs::path> inputs;
  for (fs::recursive_directory_iterator it(src, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file() && HasImageExtension(it->path().string())) inputs.push_back(it->path());
  }
  if (ec) return absl::UnavailableError(absl::StrCat(src, ": ", ec.message()));
  std::sort(inputs.begin(), inputs.end());

  ResizedCopyStats stats;
  const std::vector<int> params = {cv::IMWRITE_JPEG_QUALITY, quality};
  for (const fs::path& in : inputs) {
    const fs::path rel = fs::relative(in, src);
    absl::StatusOr<std::string> bytes = ReadFileBytes(in.string());
    absl::StatusOr<cv::Mat> rgb = bytes.ok() ? DecodeImageAtLeast(*bytes, size) : bytes.status();
    if (!rgb.ok()) {
      stats.failed.push_back(absl::StrCat(rel.string(), ": ", rgb.status().message()));
      continue;
    }
    stats.bytes_read += static_cast<int64_t>(bytes->size());
    cv::Mat bgr;
    cv::cvtColor(Resize(*rgb, size, size), bgr, cv::COLOR_RGB2BGR);
    std::vector<uchar> jpeg;
    if (!cv::imencode(".jpg", bgr, jpeg, params)) return absl::InternalError(absl::StrCat("cannot encode ", rel.string()));
    fs::path out = fs::path(dst) / rel;
    const std::string ext = absl::AsciiStrToLower(out.extension().string());
    if (ext != ".jpg" && ext != ".jpeg") out += ".jpg";
    fs::create_directories(out.parent_path(), ec);
    if (ec) return absl::UnavailableError(absl::StrCat(out.parent_path().string(), ": ", ec.message()));
    std::ofstream file(out, std::ios::binary);
    file.write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size()));
    file.close();
    if (!file) return absl::UnavailableError(absl::StrCat(out.string(), ": write failed (disk full?)"));
    ++stats.images;
    stats.bytes_written += static_cast<int64_t>(jpeg.size());
  }
  return stats;
}

}  // namespace catdog::common
