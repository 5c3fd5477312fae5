#include "common/data/image_grid.h"

#include <algorithm>

#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "common/data/image_io.h"
#include "common/data/random.h"
#include "common/data/transforms.h"

namespace catdog::common {

cv::Mat DrawLabelledGrid(const std::vector<LabelledTile>& tiles, int cols, int tile_size) {
  const int t = tile_size;
  const int rows = std::max<int>(1, (static_cast<int>(tiles.size()) + cols - 1) / cols);
  cv::Mat grid(rows * t, cols * t, CV_8UC3, cv::Scalar::all(255));
  for (size_t i = 0; i < tiles.size(); ++i) {
    cv::Mat tile = Resize(tiles[i].rgb, t, t);
    // The label on a band at the bottom of the tile, like the notebook's titles.
    const int band = std::max(14, t / 7);
    cv::rectangle(tile, cv::Rect(0, t - band, t, band), tiles[i].band, cv::FILLED);
    // As large as the band allows, smaller when the label is wider than the tile.
    double scale = band / 30.0;
    int baseline = 0;
    const int width = cv::getTextSize(tiles[i].label, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &baseline).width;
    if (width > t - 8) scale *= static_cast<double>(t - 8) / width;
    cv::putText(tile, tiles[i].label, cv::Point(4, t - band / 4), cv::FONT_HERSHEY_SIMPLEX, scale,
                cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
    const int k = static_cast<int>(i);
    tile.copyTo(grid(cv::Rect((k % cols) * t, (k / cols) * t, t, t)));
  }
  return grid;
}

absl::StatusOr<cv::Mat> SampleGrid(const ImageFolder& folder, int rows, int cols, int tile_size, uint64_t seed,
                                   const std::string& confine_root) {
  if (rows < 1 || cols < 1 || tile_size < 16) {
    return absl::InvalidArgumentError("a grid needs rows, cols >= 1 and tiles of 16 px or more");
  }
  std::vector<Sample> samples = folder.samples;
  Rng rng(seed);
  rng.Shuffle(samples);
  std::vector<LabelledTile> tiles;
  for (const Sample& s : samples) {
    if (static_cast<int>(tiles.size()) == rows * cols) break;
    absl::StatusOr<cv::Mat> image = ReadImageFile(s.path, tile_size, confine_root);
    if (!image.ok()) continue;
    tiles.push_back({*std::move(image), folder.classes[static_cast<size_t>(s.label)]});
  }
  if (tiles.empty()) return absl::InvalidArgumentError(absl::StrCat("no decodable images in ", folder.root));
  return DrawLabelledGrid(tiles, cols, tile_size);
}

}  // namespace catdog::common
