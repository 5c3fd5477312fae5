// Mixed-precision training helpers: an autocast scope that compiles against
// LibTorch 1.13 and 2.x, and dynamic loss scaling for fp16.
//
// Autocast keeps the weights (and Adam's state) in fp32 and runs matmuls and
// convolutions in bf16 / fp16; losses and reductions stay fp32. bf16 has
// fp32's exponent range and needs no loss scaling; fp16 does, because small
// gradients underflow to zero.
#pragma once

#include <vector>

#include <c10/core/Device.h>
#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "common/data/precision.h"

namespace catdog::common {

// FAILED_PRECONDITION when LibTorch cannot autocast `precision` on `device`
// (fp16 needs CUDA; bf16 works on CUDA and CPU).
absl::Status CheckTrainingPrecision(const c10::Device& device, Precision precision);

// Autocast on for `device`'s type and `precision` for the scope's lifetime
// (this thread only); a no-op for fp32. Restores the previous state.
class AutocastScope {
 public:
  AutocastScope(const c10::Device& device, Precision precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType type_;
  bool previous_enabled_ = false;
  c10::ScalarType previous_dtype_;
};

// Dynamic loss scaling with the defaults of torch.cuda.amp.GradScaler:
// multiply the loss by `scale` before backward; Unscale divides the gradients
// back and reports whether they are all finite; Update halves the scale after
// an overflow and doubles it after `growth_interval` clean steps.
class LossScaler {
 public:
  struct Options {
    double initial_scale = 65536.0;
    double growth_factor = 2.0;
    double backoff_factor = 0.5;
    int growth_interval = 2000;
  };
  LossScaler() : LossScaler(Options{}) {}
  explicit LossScaler(const Options& options) : options_(options), scale_(options.initial_scale) {}

  at::Tensor Scale(const at::Tensor& loss) const;
  // Divides each defined gradient of `params` by the scale. False when any
  // gradient holds an inf or NaN: skip the optimizer step. One device sync.
  bool Unscale(const std::vector<at::Tensor>& params) const;
  void Update(bool finite);
  double scale() const { return scale_; }
  int clean_steps() const { return clean_steps_; }
  void Restore(double scale, int clean_steps) {
    scale_ = scale;
    clean_steps_ = clean_steps;
  }

 private:
  Options options_;
  double scale_;
  int clean_steps_ = 0;
};

}  // namespace catdog::common
