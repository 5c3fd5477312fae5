// Evaluation of a served-form model (a Classifier) on an ImageFolder, as a
// person reads it: accuracy and loss, per-class precision and recall (F1
// follows), the confusion matrix, and the most confident mistakes with
// thumbnails (common/data/metrics.h's EvaluationReport).
// Images go through the serving path's preprocessing (decode, resize), so
// the figures are what Classify would answer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/metrics.h"
#include "common/data/training_observer.h"
#include "common/ml/classifier.h"

namespace catdog::common {

struct EvaluationOptions {
  int batch_size = 32;
  int max_mistakes = 16;
  int thumbnail_size = 128;  // px, square JPEG
  std::string confine_root;  // files must lie within it (common/data/confinement.h)
};

// Called after every batch with the files done and the total.
using EvaluationProgress = std::function<void(int64_t done, int64_t total)>;

// INVALID_ARGUMENT when the dataset has a class the model does not know (by
// name) or no image decodes; CANCELLED when `stop` is set (checked between
// batches); the model's errors from Predict.
absl::StatusOr<EvaluationReport> EvaluateOnFolder(const Classifier& classifier, const std::string& dataset_root,
                                                  const EvaluationOptions& options,
                                                  const EvaluationProgress& progress = nullptr,
                                                  const StopToken* stop = nullptr);

}  // namespace catdog::common
