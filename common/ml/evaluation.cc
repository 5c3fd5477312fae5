#include "common/ml/evaluation.h"

#include <cmath>

#include <torch/torch.h>

#include "common/ml/torch_status.h"

namespace catdog::common {

absl::StatusOr<EvalMetrics> Evaluate(Vgg16& model, BatchLoader& loader, const c10::Device& device,
                                     int num_classes, const StopToken* stop, bool tta_flip) {
  EvalMetrics metrics;
  metrics.confusion.assign(num_classes, std::vector<int64_t>(num_classes, 0));
  absl::Status status = TorchCall("evaluation", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    model->eval();
    double loss_sum = 0.0;
    // Confusion counts accumulate on the device; one copy at the end.
    auto confusion = torch::zeros({num_classes * num_classes}, torch::TensorOptions(torch::kInt64).device(device));
    loader.StartEpoch(0);
    while (std::optional<Batch> batch = loader.Next()) {
      if (stop != nullptr && stop->stop_requested()) return absl::CancelledError("evaluation cancelled");
      if (!batch->status.ok()) return batch->status;
      auto images = batch->images.to(device, /*non_blocking=*/true);
      auto labels = batch->labels.to(device, /*non_blocking=*/true);
      at::Tensor logits = model->forward(images);
      if (tta_flip) {  // the log of the mean probability, a valid input to cross_entropy
        const at::Tensor mirrored = torch::log_softmax(model->forward(images.flip({3})), 1);
        logits = torch::logsumexp(torch::stack({torch::log_softmax(logits, 1), mirrored}), 0) - std::log(2.0);
      }
      loss_sum += torch::nn::functional::cross_entropy(
                      logits, labels,
                      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                      .item<double>();
      confusion.index_add_(0, labels * num_classes + logits.argmax(1),
                           torch::ones_like(labels));
      metrics.count += labels.size(0);
    }
    auto counts = confusion.cpu();
    for (int t = 0; t < num_classes; ++t) {
      for (int p = 0; p < num_classes; ++p) metrics.confusion[t][p] = counts[t * num_classes + p].item<int64_t>();
    }
    metrics.loss = metrics.count > 0 ? loss_sum / metrics.count : 0.0;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  if (metrics.count == 0) return absl::InvalidArgumentError("evaluation: no decodable images");
  FinishEvalMetrics(metrics);
  return metrics;
}

}  // namespace catdog::common
