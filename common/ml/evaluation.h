// Evaluation of a model over a loader: mean cross-entropy, accuracy,
// confusion matrix, per-class precision and recall. Runs in eval mode under
// NoGradGuard; restores nothing (callers set train() again).
#pragma once

#include <c10/core/Device.h>

#include "absl/status/statusor.h"
#include "common/data/metrics.h"
#include "common/data/training_observer.h"
#include "common/ml/batch_loader.h"
#include "common/ml/vgg.h"

namespace catdog::common {

// `epoch` seeds the loader's pass (order is irrelevant for metrics). CANCELLED
// when `stop` is set; INVALID_ARGUMENT when no image could be decoded.
absl::StatusOr<EvalMetrics> Evaluate(Vgg16& model, BatchLoader& loader, const c10::Device& device,
                                     int num_classes, const StopToken* stop = nullptr);

}  // namespace catdog::common
