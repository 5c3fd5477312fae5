// Where a training run stands, saved with its last (and mid-epoch)
// checkpoints so a run can continue exactly: the epoch and batch reached,
// the learning-rate schedule, the early-stopping trigger, the best so far
// and the fp16 loss scale. Weights and Adam's moments travel in the same
// archive (common/ml/checkpoint.h). The loader needs no state of its own: its
// shuffle and augmentation draws are a function of (seed, epoch, sample).
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/statusor.h"

namespace catdog::common {

struct TrainingState {
  int64_t epochs_completed = 0;
  // Inside epoch epochs_completed + 1 (mid-epoch checkpoints): the batches
  // trained, and the loss sum and image count of those batches. 0 at an
  // epoch boundary.
  int64_t batches_done = 0;
  double partial_loss_sum = 0.0;
  int64_t partial_images = 0;

  // Epochs the run plans to train (the cosine schedule's length): the
  // config's, or what --time-budget-min allowed after epoch 1; 0 = not
  // planned yet.
  int64_t planned_epochs = 0;

  // PlateauScheduler and EarlyStopping (lr_schedule.h).
  double learning_rate = 0.0;
  double plateau_best = std::numeric_limits<double>::infinity();
  int plateau_bad_epochs = 0;
  int plateau_cooldown_left = 0;
  double early_stop_best = std::numeric_limits<double>::infinity();
  int64_t early_stop_trigger = 0;

  double best_valid_accuracy = -1.0;
  int64_t best_epoch = 0;

  // fp16 dynamic loss scaling; 0 when the run does not scale.
  double loss_scale = 0.0;
  int loss_scale_clean_steps = 0;

  // Order of progress: later epoch, then more batches.
  bool IsAfter(const TrainingState& other) const {
    return epochs_completed != other.epochs_completed ? epochs_completed > other.epochs_completed
                                                      : batches_done > other.batches_done;
  }
};

// Infinite bests (no epoch seen yet) are written as null.
std::string TrainingStateToJson(const TrainingState& state);
absl::StatusOr<TrainingState> TrainingStateFromJson(const std::string& json);

}  // namespace catdog::common
