// A training run as the job manager sees it: the dataset it indexed and a
// Run() that trains to the end. common/ml/trainer.h is the real one; tests
// of the job manager substitute their own, so they need no model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/metrics.h"
#include "common/data/train_config.h"
#include "common/data/training_observer.h"

namespace catdog::common {

struct TrainingResult {
  int64_t epochs_completed = 0;
  int64_t best_epoch = 0;
  double best_valid_accuracy = 0.0;
  bool early_stopped = false;
  std::string best_checkpoint;  // weights only
  std::string last_checkpoint;  // weights + optimizer state
  std::optional<EvalMetrics> test_best;
  std::optional<EvalMetrics> test_last;
  int64_t skipped_files = 0;  // undecodable images skipped
};

class TrainingRun {
 public:
  virtual ~TrainingRun() = default;

  virtual const std::vector<std::string>& class_names() const = 0;
  virtual size_t train_size() const = 0;
  virtual size_t valid_size() const = 0;
  // Peak memory the run will need, in bytes: an upper estimate (weights,
  // gradients, optimizer state, activations of one batch, image cache).
  virtual int64_t estimated_peak_bytes() const = 0;
  // For a run that continues an earlier one (TrainConfig::resume): the
  // metrics of the last complete epoch it continues after. nullopt for a
  // fresh run or one that resumes inside its first epoch.
  virtual std::optional<EpochMetrics> resumes_after() const { return std::nullopt; }

  // Trains to completion, early stop, or `stop` (then CANCELLED, with the
  // last complete checkpoint on disk). ABORTED when the loss diverges.
  // `observer` and `stop` may be null. Called at most once.
  virtual absl::StatusOr<TrainingResult> Run(TrainingObserver* observer, const StopToken* stop) = 0;
};

// Validates `config` and indexes its datasets, so bad input fails before any
// work is queued: INVALID_ARGUMENT, NOT_FOUND (missing dataset).
using TrainingRunFactory =
    std::function<absl::StatusOr<std::unique_ptr<TrainingRun>>(const TrainConfig& config)>;

}  // namespace catdog::common
