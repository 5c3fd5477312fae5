// Test fixtures shared by the suites: temporary folders, synthetic
// ImageFolder datasets, and the location of the real photos.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

namespace catdog::testing {

// A fresh folder under $TMPDIR (or /tmp), removed with its contents on
// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Two visually separable classes: noisy images with a bright square at a
// random place, red for "cat" and blue for "dog".
// Sizes vary a little so resizing is exercised. Returns the root.
std::string WriteSyntheticDataset(const std::string& root, int per_class, int size,
                                  unsigned seed = 1, const std::string& ext = ".png");

// One synthetic image of class `label` (0 = cat, 1 = dog), RGB uint8.
cv::Mat SyntheticImage(int label, int size, unsigned seed);

// PNG-encodes an RGB image.
std::string EncodePng(const cv::Mat& rgb);

// A valid PNG of width x height 8-bit gray pixels, all zero: a decompression
// bomb (a few hundred KiB that decode to width * height bytes and more).
std::string PngBomb(int width, int height);

// Writes `bytes` to `path`.
void WriteFile(const std::string& path, const std::string& bytes);

// ../shared/data/catdog (from $CATDOG_DATA_DIR), when it exists.
std::optional<std::string> RealPhotosDir();

}  // namespace catdog::testing

#include "common/data/train_config.h"

namespace catdog::testing {

// A training config that runs in about a second on CPU: 32 px, width 1/8,
// batch 8, five epochs, a learning rate that suits the synthetic data.
common::TrainConfig TinyTrainConfig(const std::string& dataset_root, const std::string& output_dir);

}  // namespace catdog::testing
