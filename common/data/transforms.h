// Image transforms on decoded RGB uint8 cv::Mat. Pure functions: the random
// ones take their Rng explicitly, so the same draws give the same pixels.
// Tensor conversion (ToTensor, Normalize) lives in tensor_conversion.h, which
// needs LibTorch; this header does not.
#pragma once

#include <opencv2/core/mat.hpp>

#include "absl/status/status.h"
#include "common/data/random.h"

namespace catdog::common {

// Training-time augmentation, applied after the resize (so cached images can
// be augmented without decoding again). Zero/false disables a step.
struct AugmentOptions {
  double flip_probability = 0.3;  // RandomHorizontalFlip(p), the reference's only augmentation
  int crop_padding = 0;           // pad by this many px (zeros) then crop back to size at random
  double rotation_degrees = 0.0;  // rotate by U(-d, d) degrees
  double grayscale_probability = 0.0;  // to 3-channel grayscale with this probability
};

absl::Status ValidateAugmentOptions(const AugmentOptions& options);

// Resize to exactly height x width; area interpolation when shrinking (no
// aliasing), bilinear when enlarging.
cv::Mat Resize(const cv::Mat& rgb, int height, int width);

cv::Mat HorizontalFlip(const cv::Mat& rgb);

// Pads with zeros by `padding` on every side, then crops a random window of
// the original size. padding == 0 returns the input.
cv::Mat RandomCrop(const cv::Mat& rgb, int padding, Rng& rng);

// Rotates about the centre by `degrees` (counter-clockwise), same size, zero fill.
cv::Mat Rotate(const cv::Mat& rgb, double degrees);

// Luma (ITU-R 601) replicated to three channels.
cv::Mat ToGrayscale(const cv::Mat& rgb);

// Applies the enabled steps in a fixed order: crop, rotation, flip, grayscale.
// Draws from `rng` only for enabled steps.
cv::Mat Augment(const cv::Mat& rgb, const AugmentOptions& options, Rng& rng);

}  // namespace catdog::common
