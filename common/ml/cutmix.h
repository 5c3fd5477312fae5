// CutMix (Yun et al., "CutMix: Regularization Strategy to Train Strong
// Classifiers with Localizable Features", 2019): a training batch whose
// images each carry a box cut from another image of the batch, trained
// towards both labels in proportion to the area each shows. The box's area
// share is U(0, 1) (the paper's Beta(1, 1)), its centre uniform in the image,
// clipped at the borders; the partner of image i is image i - 1 (the batch
// rolled by one; batches are shuffled, so partners are random).
#pragma once

#include <ATen/core/Tensor.h>

#include "common/data/random.h"

namespace catdog::common {

struct CutMixBatch {
  at::Tensor images;        // N x C x H x W, the boxes pasted in
  at::Tensor other_labels;  // the partners' labels (undefined when not mixed)
  double keep = 1.0;        // area share of each image's own pixels
};

// With probability `probability` (one draw per batch from `rng`), pastes one
// box at the same place in every image of the batch, cut from its partner.
// Otherwise returns `images` as they are, with keep = 1. N >= 2.
CutMixBatch CutMix(const at::Tensor& images, const at::Tensor& labels, double probability, Rng& rng);

}  // namespace catdog::common
