// A training run of the reference recipe: stratified split, Adam,
// ReduceLROnPlateau on valid loss, the reference early-stopping trigger,
// best checkpoint by valid accuracy, last checkpoint every epoch, and a test
// evaluation of both at the end when a test root is set. The config may
// choose otherwise (common/data/train_preset.h): AdamW, a per-batch warmup +
// cosine schedule over the planned epochs, an epoch count planned from a
// time budget after the first epoch, the training split's own mean/std
// (computed before epoch 1 and stored in the model card), mirror
// test-time augmentation in validation and test.
//
// With config.resume the run continues from the newest of last.ckpt and
// partial.ckpt (mid-epoch, config.checkpoint_interval_min) in output_dir:
// weights, Adam, schedule, early stopping, best so far and the loader's
// position, so its epochs equal an uninterrupted run's (bit for bit at one
// thread). Without either file it starts from epoch 1.
//
// Create() validates the config and indexes the datasets, so bad input fails
// before any work is queued. Run() may be called once, on any thread; the
// observer is called on that thread. Process-wide effect: Run() sets
// LibTorch's intra-op thread count and its global RNG seed (model init).
//
// Data parallel (set_process_group, common/ml/distributed.h): every rank runs
// the same Trainer on its shard of each epoch with gradients averaged before
// every step; validation is split across the ranks and summed, so all ranks
// see the same metrics and take the same schedule and early-stopping steps.
// Rank 0 alone writes checkpoints and TensorBoard, tells the observer and
// runs the test evaluation; the output folder must be one all ranks read
// (for a resume). fp16 loss scaling is single-process only.
//
// With config.workers > 1, Run() trains as that many ranks of one process
// (CPU): rank 0 on the calling thread, the others on threads of their own,
// each with batch_size / workers images a step and its share of the threads,
// over a LocalRendezvous: for a CPU shared with other work, ranks that each
// own one thread and meet once a step instead of one thread team that meets
// at every operator (BENCHMARKS.md "Fair sharing, run 8" has what that buys
// and what it costs). With config.nproc_per_node > 1 the same ranks are
// processes: rank 0 on the calling thread hosts the rendezvous, the others
// are this program started again (common/ml/rank_processes.h), logging to
// output_dir/rank-R.log; a rank that dies fails the run with its exit
// status and its log's last line.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/data/image_folder.h"
#include "common/data/train_config.h"
#include "common/data/training_run.h"
#include "common/data/training_state.h"

namespace catdog::common {

class ProcessGroup;

class Trainer final : public TrainingRun {
 public:
  // INVALID_ARGUMENT for bad config values or dataset layout; NOT_FOUND for
  // a missing dataset or test root.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const TrainConfig& config);

  const TrainConfig& config() const { return config_; }
  const std::vector<std::string>& class_names() const override { return dataset_.classes; }
  size_t train_size() const override { return split_.train.size(); }
  size_t valid_size() const override { return split_.valid.size(); }
  int64_t estimated_peak_bytes() const override;
  std::optional<EpochMetrics> resumes_after() const override;

  // As TrainingRun::Run; ABORTED when the loss is NaN or infinite. Gives the
  // run's freed host memory back to the system before returning.
  absl::StatusOr<TrainingResult> Run(TrainingObserver* observer, const StopToken* stop) override;

  // Trains as one rank of `group` (which must outlive Run); null: alone.
  void set_process_group(ProcessGroup* group) { group_ = group; }

  static std::string BestCheckpointPath(const TrainConfig& config);
  static std::string LastCheckpointPath(const TrainConfig& config);
  static std::string PartialCheckpointPath(const TrainConfig& config);

  // A checkpoint a resumed run may continue from.
  struct ResumeCandidate {
    std::string path;
    TrainingState state;
    EpochMetrics metrics;  // of its last complete epoch
  };

 private:
  absl::StatusOr<TrainingResult> Train(TrainingObserver* observer, const StopToken* stop);
  // config.workers ranks on threads of this process, or
  // config.nproc_per_node ranks as processes (rank 0 this one).
  absl::StatusOr<TrainingResult> TrainAsRanks(TrainingObserver* observer, const StopToken* stop);
  absl::StatusOr<TrainingResult> TrainAsThreads(const TrainConfig& rank_config, absl::Duration timeout,
                                                TrainingObserver* observer, const StopToken* stop);
  absl::StatusOr<TrainingResult> TrainAsProcesses(const TrainConfig& rank_config, absl::Duration timeout,
                                                  TrainingObserver* observer, const StopToken* stop);
  Trainer(TrainConfig config, ImageFolder dataset, SplitResult split, std::optional<ImageFolder> test,
          std::optional<ResumeCandidate> resume)
      : config_(std::move(config)), dataset_(std::move(dataset)), split_(std::move(split)),
        test_(std::move(test)), resume_(std::move(resume)) {}

  const TrainConfig config_;
  const ImageFolder dataset_;
  const SplitResult split_;
  const std::optional<ImageFolder> test_;
  const std::optional<ResumeCandidate> resume_;  // with config.resume
  ProcessGroup* group_ = nullptr;
};

}  // namespace catdog::common
