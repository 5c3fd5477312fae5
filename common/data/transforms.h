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
  // RandomResizedCrop: a window of U(crop_scale_min, 1) of the area with an
  // aspect ratio log-uniform in [3/4, 4/3], resized back to the full size.
  // 0 = off; must be in (0, 1] when on.
  double crop_scale_min = 0.0;
  // ColorJitter: brightness, contrast and saturation each scaled by
  // U(1 - j, 1 + j), in a random order. 0 = off.
  double color_jitter = 0.0;
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

// A random window of scale_min..1 of the area (aspect ratio log-uniform in
// [3/4, 4/3], clipped to the image) resized to `out` (empty: the input's
// size).
cv::Mat RandomResizedCrop(const cv::Mat& rgb, double scale_min, Rng& rng, cv::Size out = {});

// How much larger than the output the source of a resized crop is kept
// (1 / sqrt(crop_scale_min), at most 2; 1 without resized crops), so that
// even the smallest window is cut from at least output-size pixels and
// training crops are as sharp as the whole images validation sees.
double CropSourceScale(const AugmentOptions& options);

// Brightness (x * b), contrast (towards the mean grey by c) and saturation
// (towards each pixel's grey by s), factors U(1 - j, 1 + j), applied in a
// random order as torchvision's ColorJitter does.
cv::Mat ColorJitter(const cv::Mat& rgb, double jitter, Rng& rng);

// Luma (ITU-R 601) replicated to three channels.
cv::Mat ToGrayscale(const cv::Mat& rgb);

// Applies the enabled steps in a fixed order: resized crop, padded crop,
// rotation, flip, colour jitter, grayscale. Draws from `rng` only for enabled
// steps. With out_size > 0 the result is out_size square: the resized crop's
// target, or else a plain resize first.
cv::Mat Augment(const cv::Mat& rgb, const AugmentOptions& options, Rng& rng, int out_size = 0);

}  // namespace catdog::common
