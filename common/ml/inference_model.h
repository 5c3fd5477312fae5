// The serving form of a trained Vgg16. Built once when a checkpoint is
// loaded for serving; the training module is not kept.
//
// - Batch norm is folded into the convolution or linear layer before it
//   (eval mode uses the running statistics, so this is exact up to rounding).
// - On CPU at fp32 with oneDNN (MKL-DNN) in LibTorch: convolution weights are
//   reordered once into oneDNN's blocked layout and activations stay in that
//   layout from the first convolution to the global pooling. Plain LibTorch
//   re-packs every weight on every call, and for small batches falls back to
//   its slow im2col path (BENCHMARKS.md compares the two).
// - On CUDA: channels-last activations (cuDNN's preferred layout), and
//   optionally bf16 / fp16 weights and activations (logits are returned as
//   fp32).
//
// Build checks the result against the original module on a random probe
// batch (CPU fp32: max |difference| <= 1e-4 relative to the logits' scale;
// CUDA, where fp32 convolutions may run in TF32, and reduced precision: class
// probabilities within 0.05). A oneDNN build that
// fails the check falls back to the plain folded model with a warning.
//
// Thread-safe: Forward may run concurrently (weights are read-only).
#pragma once

#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "common/data/precision.h"
#include "common/ml/vgg.h"

namespace catdog::common {

struct InferenceOptions {
  Precision precision = Precision::kFp32;  // fp16 needs CUDA
  bool allow_onednn = true;                // CPU fp32 only
  int probe_image_size = 64;               // input side for the build-time check
};

class InferenceVgg {
 public:
  // `model`: eval mode, on the device to serve from; left unchanged.
  // INVALID_ARGUMENT: not a Vgg16 layer structure; FAILED_PRECONDITION: the
  // precision is not available on the model's device; INTERNAL: the folded
  // model disagrees with the original.
  static absl::StatusOr<InferenceVgg> Build(Vgg16Impl& model, const InferenceOptions& options);

  // x: N x 3 x H x W float32 on the model's device. Returns N x classes
  // float32 logits. Call under torch::InferenceMode.
  at::Tensor Forward(const at::Tensor& x) const;

  // e.g. "cpu, fp32, batch norm folded, oneDNN prepacked weights".
  const std::string& description() const { return description_; }
  bool uses_onednn() const { return onednn_; }

 private:
  struct Conv {
    at::Tensor weight, bias;
    bool pool_after = false;
  };
  std::vector<Conv> convs_;
  at::Tensor hidden_weight_, hidden_bias_, out_weight_, out_bias_;
  c10::Device device_{c10::kCPU};
  c10::ScalarType dtype_ = c10::ScalarType::Float;
  bool onednn_ = false;
  std::string description_;
};

}  // namespace catdog::common
