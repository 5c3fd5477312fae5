// cv::Mat <-> tensor conversions (ToTensor / Normalize of torchvision).
// Pure functions; thread-safe.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core/mat.hpp>

#include "common/data/train_config.h"

namespace catdog::common {

// RGB uint8 HxWx3 -> float 3xHxW in [0, 1].
at::Tensor ToTensor(const cv::Mat& rgb);

// (x - mean) / std per channel, for 3xHxW or Nx3xHxW float tensors.
at::Tensor Normalize(const at::Tensor& images, const std::array<float, 3>& mean,
                     const std::array<float, 3>& std);

// Same-size RGB uint8 images -> float Nx3xHxW in [0, 1], normalised when the
// preprocessing says so. One conversion pass for the whole batch.
at::Tensor ImagesToBatch(const std::vector<cv::Mat>& images, const Preprocessing& preprocessing);

}  // namespace catdog::common
