// Adam with multi-tensor updates.
#pragma once

#include <torch/optim/adam.h>

namespace catdog::common {

// torch::optim::Adam's update, computed with a handful of multi-tensor
// (_foreach) operations per parameter group instead of about eight
// operations per parameter. On CUDA each is one kernel launch for all
// parameters, which matters because VGG16's ~60 parameter tensors otherwise
// cost ~500 launches per step; on CPU the operations run tensor by tensor as
// before. Same arithmetic in the same order (results equal torch::optim::Adam),
// same options and the same saved state, so checkpoints load either way.
// amsgrad falls back to torch::optim::Adam::step.
class MultiTensorAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;

  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace catdog::common
