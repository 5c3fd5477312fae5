#include "common/ml/optimizer.h"

#include <cmath>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <torch/torch.h>

namespace catdog::common {
namespace {

// The optimizer state is keyed by the parameter's TensorImpl: as a string in
// LibTorch 1.x, as the pointer itself from 2.x on.
template <typename Key>
Key StateKey(const at::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;
    key << p.unsafeGetTensorImpl();
    return key.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

// Parameters whose states have taken the same number of steps share the
// bias corrections, so they update together.
struct Bucket {
  std::vector<at::Tensor> params, grads, exp_avg, exp_avg_sq;
};

}  // namespace

torch::Tensor MultiTensorAdam::step(LossClosure closure) {
  for (const auto& group : param_groups()) {
    if (static_cast<const torch::optim::AdamOptions&>(group.options()).amsgrad()) {
      TORCH_CHECK(!decoupled_, "MultiTensorAdam: amsgrad with decoupled weight decay is not supported");
      return torch::optim::Adam::step(std::move(closure));
    }
  }
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  auto& states = state();
  using Key = typename std::decay_t<decltype(states)>::key_type;
  for (auto& group : param_groups()) {
    const auto& options = static_cast<const torch::optim::AdamOptions&>(group.options());
    std::map<int64_t, Bucket> buckets;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      TORCH_CHECK(!p.grad().is_sparse(), "MultiTensorAdam does not support sparse gradients");
      auto& slot = states[StateKey<Key>(p)];
      if (slot == nullptr) {
        auto fresh = std::make_unique<torch::optim::AdamParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        slot = std::move(fresh);
      }
      auto& s = static_cast<torch::optim::AdamParamState&>(*slot);
      s.step(s.step() + 1);
      Bucket& b = buckets[s.step()];
      b.params.push_back(p);
      b.grads.push_back(p.grad());
      b.exp_avg.push_back(s.exp_avg());
      b.exp_avg_sq.push_back(s.exp_avg_sq());
    }
    const double beta1 = std::get<0>(options.betas());
    const double beta2 = std::get<1>(options.betas());
    for (auto& [step, b] : buckets) {
      const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(step));
      const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(step));
      const bool l2 = options.weight_decay() != 0 && !decoupled_;
      if (options.weight_decay() != 0 && decoupled_) {
        at::_foreach_mul_(b.params, 1 - options.lr() * options.weight_decay());
      }
      std::vector<at::Tensor> grads = l2 ? at::_foreach_add(b.grads, b.params, options.weight_decay()) : b.grads;
      at::_foreach_mul_(b.exp_avg, beta1);
      at::_foreach_add_(b.exp_avg, grads, 1 - beta1);
      at::_foreach_mul_(b.exp_avg_sq, beta2);
      at::_foreach_addcmul_(b.exp_avg_sq, grads, grads, 1 - beta2);
      std::vector<at::Tensor> denom = at::_foreach_sqrt(b.exp_avg_sq);
      at::_foreach_div_(denom, std::sqrt(bias_correction2));
      at::_foreach_add_(denom, options.eps());
      at::_foreach_addcdiv_(b.params, b.exp_avg, denom, -options.lr() / bias_correction1);
    }
  }
  return loss;
}

}  // namespace catdog::common
