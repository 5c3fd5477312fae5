#include "client/preview.h"

#include "common/data/image_folder.h"
#include "common/data/image_grid.h"
#include "common/data/image_io.h"
#include "common/data/status_macros.h"

namespace catdog::client {

absl::Status WritePreviewGrid(const std::string& dataset, const std::string& out,
                              const PreviewOptions& o) {
  CATDOG_ASSIGN_OR_RETURN(common::ImageFolder folder, common::ScanImageFolder(dataset));
  CATDOG_ASSIGN_OR_RETURN(cv::Mat grid, common::SampleGrid(folder, o.rows, o.cols, o.tile_size, o.seed));
  return common::WriteImageFile(out, grid);
}

}  // namespace catdog::client
