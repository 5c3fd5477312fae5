// Checkpoint files: the model's state dict (reference parameter and buffer
// names), optionally the optimizer state, and the model card, in one
// LibTorch archive. Writes are atomic: a temporary file in the same folder,
// fsync, rename, fsync of the folder, so a crash leaves either the old or
// the new file, never a torn one.
//
// The card carries a checksum of the weights, checked on every load.
//
// Errors: NOT_FOUND (no file), INVALID_ARGUMENT (corrupt, truncated or not a
// catdog checkpoint; card and weights disagree), DATA_LOSS (the weights'
// bytes changed since they were written: bit rot), FAILED_PRECONDITION
// (format version this build cannot read), INTERNAL / RESOURCE_EXHAUSTED on
// write failures.
#pragma once

#include <string>

#include <c10/core/Device.h>
#include <torch/optim/optimizer.h>

#include "absl/status/statusor.h"
#include "common/data/model_card.h"
#include "common/data/training_state.h"
#include "common/ml/vgg.h"

namespace catdog::common {

// `optimizer` and `state` may be null (a weights-only checkpoint); with both,
// training can continue from the file. With a moving average of the weights,
// `model` is the average (what is served and checksummed) and
// `training_weights` the weights the optimizer trains, kept to resume.
absl::Status SaveCheckpoint(const std::string& path, const ModelCard& card, Vgg16& model,
                            torch::optim::Optimizer* optimizer, const TrainingState* training_state = nullptr,
                            Vgg16* training_weights = nullptr);

struct LoadedCheckpoint {
  ModelCard card;
  Vgg16 model{nullptr};  // on `device`, in eval mode
};

absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& path, const c10::Device& device);

// Reads only the card of the checkpoint at `path`.
absl::StatusOr<ModelCard> ReadModelCard(const std::string& path);

// Copies the weights in `path` into `model` (same architecture required).
absl::Status LoadWeightsInto(const std::string& path, Vgg16& model);

// A checkpoint training can continue from: its card and where the run stood.
// INVALID_ARGUMENT when the file holds no optimizer or training state (a
// best checkpoint, or one written before resume existed).
struct ResumePoint {
  ModelCard card;
  TrainingState state;
};
absl::StatusOr<ResumePoint> ReadResumePoint(const std::string& path);

// Copies the training weights and the optimizer state in `path` into `model`
// and `optimizer` (built as for a fresh run, already on `device`), and with
// `average` the moving average of the weights into it (the weights
// themselves when the file was written without one).
absl::Status LoadTrainingCheckpoint(const std::string& path, Vgg16& model,
                                    torch::optim::Optimizer& optimizer, const c10::Device& device,
                                    Vgg16* average = nullptr);

}  // namespace catdog::common
