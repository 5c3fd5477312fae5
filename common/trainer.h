// A training run of the reference recipe: stratified split, Adam,
// ReduceLROnPlateau on valid loss, the reference early-stopping trigger,
// best checkpoint by valid accuracy, last checkpoint every epoch, and a test
// evaluation of both at the end when a test root is set.
//
// Create() validates the config and indexes the datasets, so bad input fails
// before any work is queued. Run() may be called once, on any thread; the
// observer is called on that thread. Process-wide effect: Run() sets
// LibTorch's intra-op thread count and its global RNG seed (model init).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/image_folder.h"
#include "common/metrics.h"
#include "common/train_config.h"
#include "common/training_observer.h"

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

class Trainer {
 public:
  // INVALID_ARGUMENT for bad config values or dataset layout; NOT_FOUND for
  // a missing dataset or test root.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const TrainConfig& config);

  const TrainConfig& config() const { return config_; }
  const ImageFolder& dataset() const { return dataset_; }
  size_t train_size() const { return split_.train.size(); }
  size_t valid_size() const { return split_.valid.size(); }

  // Trains to completion, early stop, or `stop` (then CANCELLED, with the
  // last complete checkpoint on disk). ABORTED when the loss diverges (NaN).
  // `observer` and `stop` may be null.
  absl::StatusOr<TrainingResult> Run(TrainingObserver* observer, const StopToken* stop);

  static std::string BestCheckpointPath(const TrainConfig& config);
  static std::string LastCheckpointPath(const TrainConfig& config);

 private:
  Trainer(TrainConfig config, ImageFolder dataset, SplitResult split, std::optional<ImageFolder> test)
      : config_(std::move(config)), dataset_(std::move(dataset)), split_(std::move(split)),
        test_(std::move(test)) {}

  const TrainConfig config_;
  const ImageFolder dataset_;
  const SplitResult split_;
  const std::optional<ImageFolder> test_;
};

}  // namespace catdog::common
