#include "client/preview.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "common/data/image_folder.h"
#include "common/data/image_io.h"
#include "common/data/random.h"
#include "common/data/status_macros.h"
#include "common/data/transforms.h"

namespace catdog::client {

absl::Status WritePreviewGrid(const std::string& dataset, const std::string& out,
                              const PreviewOptions& o) {
  if (o.rows < 1 || o.cols < 1 || o.tile_size < 16) {
    return absl::InvalidArgumentError("preview needs rows, cols >= 1 and tile size >= 16");
  }
  CATDOG_ASSIGN_OR_RETURN(common::ImageFolder folder, common::ScanImageFolder(dataset));
  std::vector<common::Sample> samples = folder.samples;
  common::Rng rng(o.seed);
  rng.Shuffle(samples);

  const int t = o.tile_size;
  cv::Mat grid(o.rows * t, o.cols * t, CV_8UC3, cv::Scalar::all(255));
  int placed = 0;
  for (const common::Sample& s : samples) {
    if (placed == o.rows * o.cols) break;
    absl::StatusOr<cv::Mat> image = common::ReadImageFile(s.path, t);
    if (!image.ok()) continue;
    cv::Mat tile = common::Resize(*image, t, t);
    // Label on a dark band at the bottom of the tile, like the notebook's titles.
    const std::string& label = folder.classes[static_cast<size_t>(s.label)];
    const int band = std::max(14, t / 7);
    cv::rectangle(tile, cv::Rect(0, t - band, t, band), cv::Scalar(0, 0, 0), cv::FILLED);
    cv::putText(tile, label, cv::Point(4, t - band / 4), cv::FONT_HERSHEY_SIMPLEX, band / 30.0,
                cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
    tile.copyTo(grid(cv::Rect((placed % o.cols) * t, (placed / o.cols) * t, t, t)));
    ++placed;
  }
  if (placed == 0) return absl::InvalidArgumentError(absl::StrCat("no decodable images in ", dataset));
  return common::WriteImageFile(out, grid);
}

}  // namespace catdog::client
