#include "common/ml/cutmix.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

namespace catdog::common {

CutMixBatch CutMix(const at::Tensor& images, const at::Tensor& labels, double probability, Rng& rng) {
  CutMixBatch out{images, at::Tensor(), 1.0};
  if (probability <= 0.0 || rng.Uniform() >= probability) return out;
  const int64_t h = images.size(2), w = images.size(3);
  const double side = std::sqrt(rng.Uniform());  // the box's side as a share of the image's
  const auto cy = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(h)));
  const auto cx = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(w)));
  const auto half_h = static_cast<int64_t>(std::lround(side * static_cast<double>(h) / 2.0));
  const auto half_w = static_cast<int64_t>(std::lround(side * static_cast<double>(w) / 2.0));
  const int64_t y0 = std::max<int64_t>(cy - half_h, 0), y1 = std::min(cy + half_h, h);
  const int64_t x0 = std::max<int64_t>(cx - half_w, 0), x1 = std::min(cx + half_w, w);
  out.other_labels = labels.roll(1, 0);
  if (y1 <= y0 || x1 <= x0) return out;
  out.images = images.clone();
  using at::indexing::Slice;
  out.images.index_put_({Slice(), Slice(), Slice(y0, y1), Slice(x0, x1)},
                        images.roll(1, 0).index({Slice(), Slice(), Slice(y0, y1), Slice(x0, x1)}));
  out.keep = 1.0 - static_cast<double>((y1 - y0) * (x1 - x0)) / static_cast<double>(h * w);
  return out;
}

}  // namespace catdog::common
