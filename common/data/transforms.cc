#include "common/data/transforms.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"

namespace catdog::common {

absl::Status ValidateAugmentOptions(const AugmentOptions& o) {
  if (!(o.flip_probability >= 0.0 && o.flip_probability <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("flip probability must be in [0, 1], got ", o.flip_probability));
  }
  if (!(o.grayscale_probability >= 0.0 && o.grayscale_probability <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "grayscale probability must be in [0, 1], got ", o.grayscale_probability));
  }
  if (o.crop_padding < 0 || o.crop_padding > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("crop padding must be in [0, 256] px, got ", o.crop_padding));
  }
  if (!(o.rotation_degrees >= 0.0 && o.rotation_degrees <= 180.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rotation must be in [0, 180] degrees, got ", o.rotation_degrees));
  }
  if (!(o.crop_scale_min >= 0.0 && o.crop_scale_min <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("resized-crop minimum scale must be in (0, 1] (0 = off), got ", o.crop_scale_min));
  }
  if (!(o.color_jitter >= 0.0 && o.color_jitter < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("colour jitter must be in [0, 1), got ", o.color_jitter));
  }
  return absl::OkStatus();
}

cv::Mat Resize(const cv::Mat& rgb, int height, int width) {
  if (rgb.rows == height && rgb.cols == width) return rgb.clone();
  const bool shrinking = rgb.rows > height || rgb.cols > width;
  cv::Mat out;
  cv::resize(rgb, out, cv::Size(width, height), 0, 0,
             shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

cv::Mat HorizontalFlip(const cv::Mat& rgb) {
  cv::Mat out;
  cv::flip(rgb, out, 1);
  return out;
}

cv::Mat RandomCrop(const cv::Mat& rgb, int padding, Rng& rng) {
  if (padding <= 0) return rgb;
  cv::Mat padded;
  cv::copyMakeBorder(rgb, padded, padding, padding, padding, padding, cv::BORDER_CONSTANT,
                     cv::Scalar::all(0));
  const int x = static_cast<int>(rng.Below(2 * padding + 1));
  const int y = static_cast<int>(rng.Below(2 * padding + 1));
  return padded(cv::Rect(x, y, rgb.cols, rgb.rows)).clone();
}

cv::Mat Rotate(const cv::Mat& rgb, double degrees) {
  const cv::Point2f centre(static_cast<float>(rgb.cols - 1) / 2.0f,
                           static_cast<float>(rgb.rows - 1) / 2.0f);
  const cv::Mat m = cv::getRotationMatrix2D(centre, degrees, 1.0);
  cv::Mat out;
  cv::warpAffine(rgb, out, m, rgb.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT,
                 cv::Scalar::all(0));
  return out;
}

cv::Mat RandomResizedCrop(const cv::Mat& rgb, double scale_min, Rng& rng, cv::Size out_size) {
  const double area = static_cast<double>(rgb.rows) * rgb.cols;
  const double scale = scale_min + (1.0 - scale_min) * rng.Uniform();
  const double log_ratio = std::log(3.0 / 4.0) + rng.Uniform() * (std::log(4.0 / 3.0) - std::log(3.0 / 4.0));
  const double ratio = std::exp(log_ratio);  // width / height
  const int w = std::clamp(static_cast<int>(std::lround(std::sqrt(area * scale * ratio))), 1, rgb.cols);
  const int h = std::clamp(static_cast<int>(std::lround(std::sqrt(area * scale / ratio))), 1, rgb.rows);
  const int x = static_cast<int>(rng.Below(static_cast<uint64_t>(rgb.cols - w + 1)));
  const int y = static_cast<int>(rng.Below(static_cast<uint64_t>(rgb.rows - h + 1)));
  if (out_size.empty()) out_size = rgb.size();
  const bool shrinking = w > out_size.width || h > out_size.height;
  cv::Mat out;
  cv::resize(rgb(cv::Rect(x, y, w, h)), out, out_size, 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

double CropSourceScale(const AugmentOptions& options) {
  if (options.crop_scale_min <= 0.0) return 1.0;
  return std::min(2.0, 1.0 / std::sqrt(options.crop_scale_min));
}

cv::Mat ColorJitter(const cv::Mat& rgb, double jitter, Rng& rng) {
  auto factor = [&] { return 1.0 - jitter + 2.0 * jitter * rng.Uniform(); };
  const double brightness = factor(), contrast = factor(), saturation = factor();
  int order[3] = {0, 1, 2};
  for (int i = 2; i > 0; --i) std::swap(order[i], order[rng.Below(static_cast<uint64_t>(i + 1))]);
  cv::Mat f;
  rgb.convertTo(f, CV_32FC3);
  for (const int step : order) {
    if (step == 0) {
      f *= brightness;
    } else {
      cv::Mat gray;
      cv::cvtColor(f, gray, cv::COLOR_RGB2GRAY);
      if (step == 1) {  // blend with the image's mean grey
        const double mean = cv::mean(gray)[0];
        f = f * contrast + cv::Scalar::all(mean * (1.0 - contrast));
      } else {  // blend with each pixel's grey
        cv::Mat gray3;
        cv::cvtColor(gray, gray3, cv::COLOR_GRAY2RGB);
        f = f * saturation + gray3 * (1.0 - saturation);
      }
    }
    cv::min(cv::max(f, 0.0), 255.0, f);  // clamped after each step, as torchvision does
  }
  cv::Mat out;
  f.convertTo(out, CV_8UC3);  // rounds to nearest
  return out;
}

cv::Mat ToGrayscale(const cv::Mat& rgb) {
  cv::Mat gray, out;
  cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
  cv::cvtColor(gray, out, cv::COLOR_GRAY2RGB);
  return out;
}

cv::Mat Augment(const cv::Mat& rgb, const AugmentOptions& o, Rng& rng, int out_size) {
  const cv::Size size = out_size > 0 ? cv::Size(out_size, out_size) : rgb.size();
  cv::Mat out = rgb;
  if (o.crop_scale_min > 0.0) {
    out = RandomResizedCrop(out, o.crop_scale_min, rng, size);
  } else if (out.size() != size) {
    out = Resize(out, size.height, size.width);
  }
  if (o.crop_padding > 0) out = RandomCrop(out, o.crop_padding, rng);
  if (o.rotation_degrees > 0.0) {
    out = Rotate(out, (rng.Uniform() * 2.0 - 1.0) * o.rotation_degrees);
  }
  if (o.flip_probability > 0.0 && rng.Uniform() < o.flip_probability) out = HorizontalFlip(out);
  if (o.color_jitter > 0.0) out = ColorJitter(out, o.color_jitter, rng);
  if (o.grayscale_probability > 0.0 && rng.Uniform() < o.grayscale_probability) {
    out = ToGrayscale(out);
  }
  return out;
}

}  // namespace catdog::common
