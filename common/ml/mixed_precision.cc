#include "common/ml/mixed_precision.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "absl/strings/str_cat.h"

// LibTorch 2.4 replaced the CUDA/CPU-specific autocast setters with ones
// taking a device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define CATDOG_AUTOCAST_BY_DEVICE_TYPE 1
#else
#define CATDOG_AUTOCAST_BY_DEVICE_TYPE 0
#endif

namespace catdog::common {
namespace {

c10::ScalarType DtypeOf(Precision p) {
  return p == Precision::kFp16 ? c10::ScalarType::Half : c10::ScalarType::BFloat16;
}

bool AutocastEnabled(c10::DeviceType type) {
#if CATDOG_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(type);
#else
  return type == c10::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

c10::ScalarType AutocastDtype(c10::DeviceType type) {
#if CATDOG_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(type);
#else
  return type == c10::kCUDA ? at::autocast::get_autocast_gpu_dtype()
                            : at::autocast::get_autocast_cpu_dtype();
#endif
}

void SetAutocast(c10::DeviceType type, bool enabled, c10::ScalarType dtype) {
#if CATDOG_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(type, enabled);
  at::autocast::set_autocast_dtype(type, dtype);
#else
  if (type == c10::kCUDA) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
}

}  // namespace

absl::Status CheckTrainingPrecision(const c10::Device& device, Precision precision) {
  if (precision == Precision::kFp16 && !device.is_cuda()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "fp16 training needs a CUDA device, not ", device.str(), " (bf16 or fp32 work on CPU)"));
  }
  if (!device.is_cuda() && !device.is_cpu()) {
    return absl::FailedPreconditionError(
        absl::StrCat("mixed precision is not supported on ", device.str()));
  }
  return absl::OkStatus();
}

AutocastScope::AutocastScope(const c10::Device& device, Precision precision)
    : active_(precision != Precision::kFp32), type_(device.type()) {
  if (!active_) return;
  previous_enabled_ = AutocastEnabled(type_);
  previous_dtype_ = AutocastDtype(type_);
  SetAutocast(type_, true, DtypeOf(precision));
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // Leaving the outermost scope frees the casted weight copies autocast
  // caches for the duration of one forward pass.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  SetAutocast(type_, previous_enabled_, previous_dtype_);
}

at::Tensor LossScaler::Scale(const at::Tensor& loss) const { return loss * scale_; }

bool LossScaler::Unscale(const std::vector<at::Tensor>& params) const {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> finite;
  for (const at::Tensor& p : params) {
    at::Tensor g = p.grad();
    if (!g.defined()) continue;
    g.mul_(1.0 / scale_);
    finite.push_back(g.isfinite().all());
  }
  return finite.empty() || torch::stack(finite).all().item<bool>();
}

void LossScaler::Update(bool finite) {
  if (!finite) {
    scale_ *= options_.backoff_factor;
    clean_steps_ = 0;
    return;
  }
  if (++clean_steps_ >= options_.growth_interval) {
    scale_ *= options_.growth_factor;
    clean_steps_ = 0;
  }
}

}  // namespace catdog::common
