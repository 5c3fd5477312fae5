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

// CANCELLED when `stop` is set; INVALID_ARGUMENT when no image could be
// decoded. With `tta_flip`, each image's class probabilities are the mean of
// its own and its mirror image's (the loss is that mean's cross-entropy), as
// serving computes them for such a model.
absl::StatusOr<EvalMetrics> Evaluate(Vgg16& model, BatchLoader& loader, const c10::Device& device,
                                     int num_classes, const StopToken* stop = nullptr, bool tta_flip = false);

}  // namespace catdog::common
