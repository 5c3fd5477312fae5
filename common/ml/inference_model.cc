#include "common/ml/inference_model.h"

#include <algorithm>
#include <memory>

#include <torch/torch.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "common/data/log_format.h"
#include "common/data/status_macros.h"
#include "common/ml/torch_status.h"

namespace catdog::common {
namespace {

struct Folded {
  at::Tensor weight, bias;
};

// y = gamma * (W x + b - mean) / sqrt(var + eps) + beta
//   = (s W) x + (b - mean) s + beta,  s = gamma / sqrt(var + eps)
Folded FoldBatchNorm(const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& mean,
                     const at::Tensor& var, const at::Tensor& gamma, const at::Tensor& beta,
                     double eps) {
  const at::Tensor scale = gamma / torch::sqrt(var + eps);
  std::vector<int64_t> shape(static_cast<size_t>(weight.dim()), 1);
  shape[0] = -1;
  const at::Tensor b = bias.defined() ? bias : torch::zeros_like(mean);
  return {weight * scale.view(shape), (b - mean) * scale + beta};
}

template <typename BatchNorm>
Folded FoldInto(const at::Tensor& weight, const at::Tensor& bias, const BatchNorm& bn) {
  return FoldBatchNorm(weight, bias, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                       bn.options.eps());
}

absl::Status NotVgg(const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("not a catdog Vgg16: ", why));
}

std::vector<std::shared_ptr<torch::nn::Module>> Children(torch::nn::Module& model,
                                                          const std::string& name) {
  for (const auto& item : model.named_children()) {
    if (item.key() == name) return item.value()->children();
  }
  return {};
}

c10::ScalarType DtypeOf(Precision p) {
  switch (p) {
    case Precision::kBf16: return c10::ScalarType::BFloat16;
    case Precision::kFp16: return c10::ScalarType::Half;
    case Precision::kFp32: break;
  }
  return c10::ScalarType::Float;
}

}  // namespace

absl::StatusOr<InferenceVgg> InferenceVgg::Build(Vgg16Impl& model, const InferenceOptions& options) {
  InferenceVgg out;
  const auto params = model.parameters();
  if (params.empty()) return NotVgg("no parameters");
  out.device_ = params.front().device();
  out.dtype_ = DtypeOf(options.precision);
  if (options.precision != Precision::kFp32 && !out.device_.is_cuda()) {
    return absl::FailedPreconditionError(absl::StrCat(
        PrecisionName(options.precision),
        " serving needs a CUDA device (on CPU, fp32 with oneDNN is the fast path)"));
  }
  out.onednn_ = out.device_.is_cpu() && options.precision == Precision::kFp32 &&
                options.allow_onednn && at::hasMKLDNN();

  CATDOG_RETURN_IF_ERROR(TorchCall("fold batch norm", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    for (int b = 1; b <= 5; ++b) {
      const auto layers = Children(model, absl::StrCat("conv_block", b));
      if (layers.empty()) return NotVgg(absl::StrCat("conv_block", b, " missing"));
      for (size_t i = 0; i < layers.size(); ++i) {
        if (auto* conv = layers[i]->as<torch::nn::Conv2dImpl>()) {
          auto* bn = i + 2 < layers.size() ? layers[i + 1]->as<torch::nn::BatchNorm2dImpl>() : nullptr;
          if (bn == nullptr || layers[i + 2]->as<torch::nn::ReLUImpl>() == nullptr ||
              conv->weight.size(-1) != 3) {
            return NotVgg("expected 3x3 conv, batch norm, ReLU");
          }
          Folded f = FoldInto(conv->weight, conv->bias, *bn);
          out.convs_.push_back({f.weight, f.bias, false});
          i += 2;
        } else if (layers[i]->as<torch::nn::MaxPool2dImpl>() != nullptr && !out.convs_.empty()) {
          out.convs_.back().pool_after = true;
        } else {
          return NotVgg(absl::StrCat("unexpected layer in conv_block", b));
        }
      }
    }
    const auto head = Children(model, "classifier");
    auto* hidden = head.size() == 4 ? head[0]->as<torch::nn::LinearImpl>() : nullptr;
    auto* bn = head.size() == 4 ? head[1]->as<torch::nn::BatchNorm1dImpl>() : nullptr;
    auto* last = head.size() == 4 ? head[3]->as<torch::nn::LinearImpl>() : nullptr;
    if (hidden == nullptr || bn == nullptr || last == nullptr) {
      return NotVgg("expected classifier Linear, BatchNorm1d, ReLU, Linear");
    }
    Folded h = FoldInto(hidden->weight, hidden->bias, *bn);
    out.hidden_weight_ = h.weight.to(out.dtype_);
    out.hidden_bias_ = h.bias.to(out.dtype_);
    out.out_weight_ = last->weight.detach().clone().to(out.dtype_);
    out.out_bias_ = last->bias.detach().clone().to(out.dtype_);
    return absl::OkStatus();
  }));

  // Keep the folded dense weights: a oneDNN build that fails its check
  // falls back to them.
  const std::vector<Conv> dense = out.convs_;
  auto prepare = [&](bool onednn) {
    return TorchCall("prepare serving weights", [&] {
      out.onednn_ = onednn;
      for (size_t i = 0; i < dense.size(); ++i) {
        at::Tensor w = dense[i].weight.to(out.dtype_);
        at::Tensor bias = dense[i].bias.to(out.dtype_);
        if (onednn) {
          w = at::mkldnn_reorder_conv2d_weight(w.to_mkldnn(), {1, 1}, {1, 1}, {1, 1}, 1);
          bias = bias.to_mkldnn();
        } else if (out.device_.is_cuda()) {
          w = w.contiguous(at::MemoryFormat::ChannelsLast);
        }
        out.convs_[i].weight = w;
        out.convs_[i].bias = bias;
      }
    });
  };
  // Largest difference from the original module on a probe batch, as a
  // fraction of the allowed tolerance (<= 1 passes).
  auto check = [&]() {
    return TorchCall("check serving model", [&] {
      torch::InferenceMode guard;
      // Deterministic values spread over [0, 1), without the global RNG.
      const int64_t s = options.probe_image_size;
      const at::Tensor probe =
          at::frac(torch::arange(2 * 3 * s * s, torch::kFloat) * 0.6180339887).view({2, 3, s, s})
              .to(out.device_);
      const at::Tensor expected = model.forward(probe).to(torch::kFloat);
      const at::Tensor got = out.Forward(probe);
      // CUDA runs fp32 convolutions in TF32 by default, so only CPU fp32 is
      // held to the tight bound.
      if (out.dtype_ == c10::ScalarType::Float && out.device_.is_cpu()) {
        const double scale = std::max(1.0, expected.abs().max().item<double>());
        return (got - expected).abs().max().item<double>() / (1e-4 * scale);
      }
      const at::Tensor diff = torch::softmax(got, 1) - torch::softmax(expected, 1);
      return got.isfinite().all().item<bool>() ? diff.abs().max().item<double>() / 0.05 : 1e9;
    });
  };

  if (out.onednn_) {
    absl::Status prepared = prepare(true);
    absl::StatusOr<double> error = prepared.ok() ? check() : absl::StatusOr<double>(prepared);
    if (error.ok() && *error <= 1.0) {
      out.description_ = "cpu, fp32, batch norm folded, oneDNN prepacked weights";
      return out;
    }
    spdlog::warn("oneDNN serving path rejected ({}); using the plain folded model",
                 error.ok() ? absl::StrCat("error ", *error, "x tolerance") : error.status().ToString());
  }
  CATDOG_RETURN_IF_ERROR(prepare(false));
  CATDOG_ASSIGN_OR_RETURN(const double error, check());
  if (!(error <= 1.0)) {
    return absl::InternalError(absl::StrCat("folded serving model differs from the checkpoint's (",
                                            error, "x tolerance)"));
  }
  out.description_ = absl::StrCat(out.device_.str(), ", ", PrecisionName(options.precision),
                                  ", batch norm folded",
                                  out.device_.is_cuda() ? ", channels-last" : "");
  return out;
}

at::Tensor InferenceVgg::Forward(const at::Tensor& input) const {
  at::Tensor x = input.to(dtype_);
  if (onednn_) {
    x = x.to_mkldnn();
  } else if (device_.is_cuda()) {
    x = x.contiguous(at::MemoryFormat::ChannelsLast);
  }
  for (const Conv& c : convs_) {
    x = onednn_ ? at::mkldnn_convolution(x, c.weight, c.bias, {1, 1}, {1, 1}, {1, 1}, 1)
                : at::conv2d(x, c.weight, c.bias, 1, 1);
    x = at::relu_(x);
    if (c.pool_after) x = at::max_pool2d(x, {2, 2}, {2, 2});
  }
  if (onednn_) x = x.to_dense();
  x = x.mean({2, 3});  // global average pooling
  x = at::relu(at::linear(x, hidden_weight_, hidden_bias_));
  return at::linear(x, out_weight_, out_bias_).to(c10::ScalarType::Float);
}

}  // namespace catdog::common
