// One training run's configuration. Defaults are the reference notebook's
// recipe (VGG16-BN-GAP, 224 px, batch 16, Adam 1e-4, plateau factor 0.1 /
// patience 4, early stop patience 7, 55 epochs, flip 0.3, split 0.2 seed 42).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/data/transforms.h"

namespace catdog::common {

// Preprocessing shared by training and serving; stored in the model card.
struct Preprocessing {
  int image_size = 224;            // square input, pixels
  bool normalize = false;          // the reference uses ToTensor only
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};
  std::array<float, 3> std = {0.229f, 0.224f, 0.225f};
  // Test-time augmentation: evaluation and serving average the class
  // probabilities of each image and its mirror image (twice the compute).
  bool tta_flip = false;
};

struct TrainConfig {
  // The recipe the other fields started from (train_preset.h): "reference"
  // (the defaults below) or "fast". Recorded; applying it is the caller's.
  std::string preset = "reference";

  // Data.
  std::string dataset_root;  // ImageFolder root, split into train/valid
  std::string test_root;     // optional ImageFolder root evaluated at the end
  double valid_fraction = 0.2;
  uint64_t split_seed = 42;
  Preprocessing preprocessing;
  AugmentOptions augment;
  // Replace preprocessing.mean/std with the training split's own per-channel
  // statistics (at image_size, before augmentation) and normalise with them;
  // the model card carries them to serving.
  bool normalize_from_train = false;
  // Validate, test and serve at eval_scale x image_size px (EvalImageSize):
  // random-resized crops make objects look larger in training than in the
  // whole images evaluation sees, and evaluating larger undoes that
  // (Touvron et al., "Fixing the train-test resolution discrepancy"). The
  // model card carries the size to serving. 1 = the training size.
  double eval_scale = 1.0;

  // Model.
  std::string arch = "vgg16";
  double width = 1.0;  // channel multiplier; 1.0 is the reference model

  // Optimisation.
  int batch_size = 16;
  int epochs = 55;
  std::string optimizer = "adam";  // adam (L2 in the gradient) | adamw (decoupled decay)
  double learning_rate = 1e-4;     // the peak rate under a warmup
  double weight_decay = 0.0;
  // plateau: ReduceLROnPlateau on the valid loss (lr_factor, lr_patience).
  // cosine: linear warmup over warmup_epochs, then a cosine decay to zero at
  // the end of the planned epochs, set every batch.
  std::string lr_schedule = "plateau";
  double warmup_epochs = 0.0;
  // Plan the epoch count (at most `epochs`) from the first epoch's measured
  // time so training, validation and the test evaluation end within this
  // many minutes; 0 = train `epochs`.
  double time_budget_min = 0.0;
  // Training targets (1 - s) on the label and s / K spread over all K
  // classes (PyTorch's label_smoothing); 0 = one-hot, the reference.
  // Validation and test losses stay plain cross-entropy.
  double label_smoothing = 0.0;
  // CutMix: the share of training batches in which every image carries a
  // box cut from another image and is trained towards both labels by area
  // (common/ml/cutmix.h). Validation never mixes. 0 = off, the reference.
  double cutmix = 0.0;
  // Which weights become best.ckpt (tested at the end, promoted, served):
  // "accuracy", the epoch with the highest validation accuracy (the
  // reference), or "last", the latest epoch's. A schedule that ends at zero
  // with a weight average ends at its best weights, and on a small validation
  // set the highest accuracy is partly noise.
  std::string best_by = "accuracy";
  // Exponential moving average of the weights (and BatchNorm statistics),
  // updated after every step with this decay (warmed up as
  // min(decay, (1 + t) / (10 + t)) at step t); when on, the average is the
  // model validated, checkpointed and served. 0 = off, the reference.
  double ema_decay = 0.0;
  double lr_factor = 0.1;
  int lr_patience = 4;
  int early_stop_patience = 7;
  uint64_t seed = 42;  // weights init and shuffling

  // Execution.
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  int threads = 0;              // intra-op threads; 0 = hardware concurrency
  // Data-parallel ranks in this process (CPU): each a thread training on its
  // shard of every epoch with batch_size / workers images a step and
  // threads / workers intra-op threads, gradients averaged over Gloo.
  int workers = 1;
  // The same ranks as processes on this machine (torchrun's
  // --nproc-per-node): rank 0 is the training process, the others are
  // child processes of it. At most one of workers and nproc_per_node > 1.
  int nproc_per_node = 1;
  // Data parallel: average the gradients after backward instead of while it
  // runs (GradientReducer); for a CPU with no core to spare for Gloo's
  // threads (BENCHMARKS.md).
  bool allreduce_after_backward = false;
  int loader_workers = 2;       // decode threads
  int prefetch_batches = 4;
  int64_t cache_budget_mb = 4096;  // keep decoded images in RAM when they fit
  std::string precision = "fp32";  // fp32 | bf16 | fp16 (common/precision.h)
  int progress_interval = 10;      // progress event every N batches (0 = off)
  // Also save the run's state mid-epoch every this many minutes, and when it
  // is stopped, to output_dir/partial.ckpt (0 = at epoch ends only).
  double checkpoint_interval_min = 0.0;

  // Outputs.
  std::string output_dir;       // best.ckpt / last.ckpt are written here
  std::string tensorboard_dir;  // run folder for event files; empty = off
  // Continue from the newest of output_dir's last.ckpt and partial.ckpt
  // instead of starting over (set by whoever owns output_dir).
  bool resume = false;
  // When set (a canonical folder: catdogd's data root), dataset files are
  // read only within it: links leading out fail (common/data/confinement.h).
  std::string confine_root;
};

// The size validation, test and serving see: eval_scale x image_size, rounded.
int EvalImageSize(const TrainConfig& config);

// INVALID_ARGUMENT naming the first bad field.
absl::Status ValidateTrainConfig(const TrainConfig& config);

std::string TrainConfigToJson(const TrainConfig& config);
absl::StatusOr<TrainConfig> TrainConfigFromJson(const std::string& json);

}  // namespace catdog::common
