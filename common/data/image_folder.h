// The ImageFolder dataset layout (torchvision semantics): one sub-folder per
// class under a root; class index = position of the folder name in sorted
// order; image files found recursively inside each class folder, anything
// else (e.g. `_DS_Store`) ignored. Files are only listed here, not decoded:
// the batch loader skips (and counts) files that fail to decode.
//
// Thread-safe (free functions, no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace catdog::common {

struct Sample {
  std::string path;
  int label = 0;
};

struct ImageFolder {
  std::string root;
  std::vector<std::string> classes;  // sorted; index = label
  std::vector<Sample> samples;       // sorted by (label, path)

  std::vector<int64_t> CountsPerClass() const;
};

// True for the image extensions the index accepts (jpg, jpeg, png, bmp, ppm,
// pgm, tif, tiff, webp), case-insensitive.
bool HasImageExtension(const std::string& path);

// Errors: NOT_FOUND (root missing), INVALID_ARGUMENT (root not a directory,
// fewer than two classes, or a class folder without images). With
// `confine_root` (canonical) set, a class folder or image that is a link
// leading outside it is PERMISSION_DENIED, named relative to `root`; links
// that stay inside are followed (common/data/confinement.h).
absl::StatusOr<ImageFolder> ScanImageFolder(const std::string& root, const std::string& confine_root = "");

struct SplitResult {
  std::vector<Sample> train;
  std::vector<Sample> valid;
};

// Stratified split: ceil(fraction * N) samples go to `valid`, shared between
// classes in proportion to their size (largest remainder; ties to the lower
// class index), each class shuffled with `seed`. 4000/4005 per class at 0.2
// gives 800/801 valid, as the reference's sklearn split. Deterministic on
// every platform. `fraction` in [0, 1).
SplitResult StratifiedSplit(const std::vector<Sample>& samples, int num_classes,
                            double valid_fraction, uint64_t seed);

}  // namespace catdog::common
