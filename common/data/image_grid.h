// Grids of labelled thumbnails drawn with OpenCV: the notebook's 4x8 preview
// of training images (catdogctl preview, the TensorBoard "samples" image)
// and the most confident mistakes of an evaluation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "absl/status/statusor.h"
#include "common/data/image_folder.h"

namespace catdog::common {

struct LabelledTile {
  cv::Mat rgb;  // any size; resized to the tile
  std::string label;
  cv::Scalar band = cv::Scalar(0, 0, 0);  // colour behind the label (RGB)
};

// Tiles left to right, top to bottom, `cols` per row, each `tile_size` px
// square with its label on a band at the bottom. White where a row is short.
cv::Mat DrawLabelledGrid(const std::vector<LabelledTile>& tiles, int cols, int tile_size);

// rows x cols random images of `folder` (fewer if it has fewer) labelled with
// their class; undecodable files are skipped. INVALID_ARGUMENT when none decodes.
absl::StatusOr<cv::Mat> SampleGrid(const ImageFolder& folder, int rows, int cols, int tile_size, uint64_t seed,
                                   const std::string& confine_root = "");

}  // namespace catdog::common
