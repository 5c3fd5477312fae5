#include "common/ml/trainer.h"

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/data/image_grid.h"
#include "common/data/image_io.h"
#include "common/data/log_format.h"
#include "common/data/status_macros.h"
#include "common/ml/batch_loader.h"
#include "common/ml/checkpoint.h"
#include "common/ml/cutmix.h"
#include "common/ml/device.h"
#include "common/ml/distributed.h"
#include "common/ml/evaluation.h"
#include "common/ml/lr_schedule.h"
#include "common/ml/mixed_precision.h"
#include "common/ml/optimizer.h"
#include "common/ml/rank_processes.h"
#include "common/ml/tensorboard_writer.h"
#include "common/ml/torch_status.h"
#include "common/ml/vgg.h"
#include "common/ml/weight_average.h"

namespace catdog::common {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kCutMixStream = 0x4355544D4958ULL;  // "CUTMIX": apart from the loader's streams

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct EpochStats {
  double loss = 0.0;  // mean over the epoch's images
  double loss_sum = 0.0;
  int64_t images = 0;
  double wait_seconds = 0.0;
};

void SetLearningRate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
  }
}

// Everything one Run() owns; split out so TrainEpoch/Checkpoint stay small.
struct RunState {
  const TrainConfig& config;
  const std::vector<std::string>& classes;
  c10::Device device;
  Precision precision;
  std::optional<LossScaler> scaler;  // fp16 only
  Vgg16 model;
  // --ema-decay: the moving average of model's weights; empty when off.
  Vgg16 average{nullptr};
  std::unique_ptr<MultiTensorAdam> optimizer;
  std::unique_ptr<BatchLoader> train;
  std::unique_ptr<BatchLoader> valid;
  TrainingObserver* observer;
  const StopToken* stop;
  // Where the run stood after its last complete epoch; inside the first
  // epoch of a run resumed from a mid-epoch checkpoint, that position.
  TrainingState position;
  EpochMetrics last_metrics;  // of the last complete epoch
  Clock::time_point last_partial_save = Clock::now();
  ProcessGroup* group = nullptr;  // data parallel: this rank's group
  std::unique_ptr<GradientReducer> reducer;  // with `group`, unless allreduce_after_backward
  // --lr-schedule cosine: the epochs the schedule spans (0 until a time
  // budget has planned them) and its warmup, in batches.
  bool cosine = false;
  int64_t planned_epochs = 0;
  int64_t warmup_steps = 0;
  double LearningRateAt(int64_t epoch, int64_t batch) const {  // both 1-based
    const int64_t per_epoch = train->num_batches();
    return WarmupCosineRate(config.learning_rate, (epoch - 1) * per_epoch + batch - 1, warmup_steps,
                            planned_epochs * per_epoch);
  }
  int rank() const { return group == nullptr ? 0 : group->rank(); }
  bool writes() const { return rank() == 0; }  // checkpoints, TensorBoard
  // The model validated, checkpointed and served: the average when on.
  Vgg16& served() { return average.is_empty() ? model : average; }
  Vgg16* training_weights() { return average.is_empty() ? nullptr : &model; }
};

bool StopRequested(const StopToken* stop) { return stop != nullptr && stop->stop_requested(); }

std::string NowRfc3339() { return absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone()); }

ModelCard MakeCard(RunState& s, const std::string& kind, const EpochMetrics& metrics) {
  ModelCard card;
  card.arch = s.config.arch;
  card.width = s.config.width;
  card.class_names = s.classes;
  card.preprocessing = s.config.preprocessing;
  card.preprocessing.image_size = EvalImageSize(s.config);  // what serving resizes to
  card.kind = kind;
  card.metrics = metrics;
  card.train_config_json = TrainConfigToJson(s.config);
  card.created_at = NowRfc3339();
  card.parameter_count = CountParameters(*s.model);
  return card;
}

// The run's state now: s.position plus the loss scaler's, which moves every
// step.
TrainingState StateNow(const RunState& s) {
  TrainingState state = s.position;
  if (s.scaler) {
    state.loss_scale = s.scaler->scale();
    state.loss_scale_clean_steps = s.scaler->clean_steps();
  }
  return state;
}

// A resumable checkpoint inside epoch s.position.epochs_completed + 1, after
// `batches_done` of its batches. Not a model to serve: the observer is not
// told, and the card's metrics are the last complete epoch's.
absl::Status WritePartialCheckpoint(RunState& s, int64_t batches_done, double loss_sum, int64_t images) {
  if (!s.writes()) return absl::OkStatus();
  TrainingState state = StateNow(s);
  state.batches_done = batches_done;
  state.partial_loss_sum = loss_sum;
  state.partial_images = images;
  const std::string path = Trainer::PartialCheckpointPath(s.config);
  CATDOG_RETURN_IF_ERROR(
      SaveCheckpoint(path, MakeCard(s, "partial", s.last_metrics), s.served(), s.optimizer.get(), &state,
                     s.training_weights()));
  s.last_partial_save = Clock::now();
  spdlog::info("mid-epoch checkpoint: epoch {}, {} batches trained", state.epochs_completed + 1, batches_done);
  return absl::OkStatus();
}

bool PartialCheckpointDue(const RunState& s) {
  const double interval = s.config.checkpoint_interval_min;
  return interval > 0.0 && SecondsSince(s.last_partial_save) >= interval * 60.0;
}

absl::StatusOr<EpochStats> TrainEpoch(RunState& s, int64_t epoch) {
  EpochStats stats;
  const double wait_before = s.train->wait_seconds();
  // A run resumed mid-epoch continues this epoch where it was saved. The
  // saved loss sum and image count are the whole group's: rank 0 carries
  // them, so the epoch's sum over the ranks counts them once.
  const int64_t first_batch = s.position.batches_done;
  const bool carries_partial = s.group == nullptr || s.group->rank() == 0;
  stats.images = carries_partial ? s.position.partial_images : 0;
  const double partial_loss_sum = carries_partial ? s.position.partial_loss_sum : 0.0;
  s.position.batches_done = 0;
  s.position.partial_loss_sum = 0.0;
  s.position.partial_images = 0;
  absl::Status status = TorchCall(absl::StrCat("training epoch ", epoch), [&]() -> absl::Status {
    s.model->train();
    s.train->StartEpoch(epoch, first_batch);
    // The loss sum stays on the device and is read back only for progress
    // events and at the end, so a GPU is not synchronised every batch. A NaN
    // or inf poisons the sum, so divergence is still caught at the next read.
    at::Tensor loss_sum =
        torch::full({}, partial_loss_sum, torch::TensorOptions().dtype(torch::kDouble).device(s.device));
    int64_t done = first_batch, read_at = first_batch;
    const int64_t total = s.train->num_batches();
    auto read_loss = [&]() -> absl::StatusOr<double> {
      const double value = loss_sum.item<double>();
      if (!std::isfinite(value)) {
        return absl::AbortedError(absl::StrCat("training diverged: loss is ", value, " at epoch ",
                                               epoch, " between batches ", read_at + 1, " and ",
                                               done, "; lower the learning rate"));
      }
      read_at = done;
      return value;
    };
    const int check_every = s.config.progress_interval > 0 ? s.config.progress_interval : 10;
    // Saves the batches trained so far (loader position) as partial.ckpt,
    // with the loss sum and image count of all ranks.
    auto save_partial = [&]() -> absl::Status {
      CATDOG_ASSIGN_OR_RETURN(const double sum, read_loss());
      std::vector<double> totals = {sum, static_cast<double>(stats.images)};
      if (s.group != nullptr) CATDOG_RETURN_IF_ERROR(s.group->Sum(&totals));
      return WritePartialCheckpoint(s, s.train->position(), totals[0], static_cast<int64_t>(totals[1]));
    };
    // Whether to stop now, and whether a mid-epoch checkpoint is due. Ranks
    // take rank 0's answers, so all stop at the same batch and join the
    // checkpoint's sum together.
    auto stop_now = [&]() -> absl::StatusOr<bool> {
      const bool stop = StopRequested(s.stop);
      if (s.group == nullptr) return stop;
      CATDOG_ASSIGN_OR_RETURN(const int64_t decided, s.group->BroadcastValue(stop ? 1 : 0));
      return decided != 0;
    };
    auto checkpoint_due = [&]() -> absl::StatusOr<bool> {
      if (s.config.checkpoint_interval_min <= 0.0) return false;
      const bool due = PartialCheckpointDue(s);
      if (s.group == nullptr) return due;
      CATDOG_ASSIGN_OR_RETURN(const int64_t decided, s.group->BroadcastValue(due ? 1 : 0));
      return decided != 0;
    };
    auto cancelled = [&]() -> absl::Status {
      if (s.config.checkpoint_interval_min > 0.0 && s.train->position() > first_batch) {
        CATDOG_RETURN_IF_ERROR(save_partial());
      }
      return absl::CancelledError("training cancelled");
    };
    while (true) {
      CATDOG_ASSIGN_OR_RETURN(const bool stopping, stop_now());
      if (stopping) return cancelled();
      std::optional<Batch> batch = s.train->Next();
      if (!batch) break;
      ++done;
      if (!batch->status.ok()) return batch->status;
      const int64_t n = batch->labels.size(0);
      // BatchNorm cannot train on a single image. A rank of a data-parallel
      // run still joins the step (with zero gradients): all ranks step together.
      if (n < 2 && s.group == nullptr) continue;
      if (s.cosine) SetLearningRate(*s.optimizer, s.LearningRateAt(epoch, done));
      s.optimizer->zero_grad();
      if (n >= 2) {
        auto images = batch->images.to(s.device, /*non_blocking=*/true);
        auto labels = batch->labels.to(s.device, /*non_blocking=*/true);
        // Each rank mixes its own shard, from its own stream: a resumed run
        // draws the same boxes for the same batches.
        Rng mix_rng = Rng::Derive(s.config.seed ^ kCutMixStream, static_cast<uint64_t>(epoch),
                                  static_cast<uint64_t>(done) * 1024 + static_cast<uint64_t>(s.rank()));
        const CutMixBatch mixed = CutMix(images, labels, s.config.cutmix, mix_rng);
        at::Tensor loss;
        {
          AutocastScope autocast(s.device, s.precision);
          const auto options =
              torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(s.config.label_smoothing);
          const at::Tensor logits = s.model->forward(mixed.images);
          loss = torch::nn::functional::cross_entropy(logits, labels, options);
          if (mixed.keep < 1.0) {
            loss = loss * mixed.keep +
                   torch::nn::functional::cross_entropy(logits, mixed.other_labels, options) * (1.0 - mixed.keep);
          }
        }
        if (s.scaler) {
          s.scaler->Scale(loss).backward();
        } else {
          loss.backward();
        }
        loss_sum.add_(loss.detach().to(torch::kDouble) * n);
        stats.images += n;
      }
      if (s.reducer) {
        CATDOG_RETURN_IF_ERROR(s.reducer->Finish());
      } else if (s.group != nullptr) {
        CATDOG_RETURN_IF_ERROR(s.group->AverageGradients(s.model->parameters()));
      }
      bool stepped = true;
      if (s.scaler) {
        stepped = s.scaler->Unscale(s.model->parameters());
        if (stepped) s.optimizer->step();  // an overflow skips the step, as GradScaler does
        s.scaler->Update(stepped);
      } else {
        s.optimizer->step();
      }
      if (stepped && !s.average.is_empty()) {
        UpdateAverage(s.average, s.model, s.config.ema_decay, (epoch - 1) * total + done);
      }
      const bool report = s.observer != nullptr && s.config.progress_interval > 0 &&
                          (done % s.config.progress_interval == 0 || done == total);
      if (report || done % check_every == 0) {
        CATDOG_ASSIGN_OR_RETURN(const double sum, read_loss());
        if (report) s.observer->OnProgress({epoch, done, total, sum / stats.images});
      }
      CATDOG_ASSIGN_OR_RETURN(const bool due, checkpoint_due());
      if (due) CATDOG_RETURN_IF_ERROR(save_partial());
    }
    CATDOG_ASSIGN_OR_RETURN(const bool stopping, stop_now());
    if (stopping) return cancelled();
    CATDOG_ASSIGN_OR_RETURN(const double sum, read_loss());
    stats.loss_sum = sum;
    if (s.group != nullptr) {  // the epoch's loss and images over all ranks
      std::vector<double> totals = {stats.loss_sum, static_cast<double>(stats.images)};
      CATDOG_RETURN_IF_ERROR(s.group->Sum(&totals));
      stats.loss_sum = totals[0];
      stats.images = static_cast<int64_t>(totals[1]);
    }
    if (stats.images > 0) stats.loss = stats.loss_sum / static_cast<double>(stats.images);
    return absl::OkStatus();
  });
  CATDOG_RETURN_IF_ERROR(status);
  if (stats.images == 0) return absl::InvalidArgumentError("no decodable training images");
  stats.wait_seconds = s.train->wait_seconds() - wait_before;
  return stats;
}

absl::Status WriteCheckpoint(RunState& s, CheckpointKind kind, const std::string& path,
                             const EpochMetrics& metrics) {
  if (!s.writes()) return absl::OkStatus();
  // The best checkpoint is for serving and evaluation: weights only. The last
  // one also carries the optimizer and training state, to resume from.
  const ModelCard card = MakeCard(s, CheckpointKindName(kind), metrics);
  if (kind == CheckpointKind::kLast) {
    const TrainingState state = StateNow(s);
    CATDOG_RETURN_IF_ERROR(SaveCheckpoint(path, card, s.served(), s.optimizer.get(), &state, s.training_weights()));
  } else {
    CATDOG_RETURN_IF_ERROR(SaveCheckpoint(path, card, s.served(), nullptr));
  }
  if (s.observer != nullptr) s.observer->OnCheckpoint(kind, path, metrics);
  return absl::OkStatus();
}

absl::Status WriteScalars(TensorBoardWriter* tb, const EpochMetrics& m) {
  if (tb == nullptr) return absl::OkStatus();
  CATDOG_RETURN_IF_ERROR(tb->AddScalar("Train Loss", static_cast<float>(m.train_loss), m.epoch));
  CATDOG_RETURN_IF_ERROR(tb->AddScalar("Valid Loss", static_cast<float>(m.valid_loss), m.epoch));
  CATDOG_RETURN_IF_ERROR(tb->AddScalar("Valid Accuracy", static_cast<float>(m.valid_accuracy), m.epoch));
  CATDOG_RETURN_IF_ERROR(tb->AddScalar("Learning Rate", static_cast<float>(m.learning_rate), m.epoch));
  return tb->Flush();
}

// What a run shows in TensorBoard before its first epoch: the notebook's 4x8
// grid of labelled training images and the config.
absl::Status WriteRunOverview(TensorBoardWriter& tb, const TrainConfig& c, const std::vector<std::string>& classes,
                              const std::vector<Sample>& train) {
  ImageFolder folder{c.dataset_root, classes, train};
  CATDOG_ASSIGN_OR_RETURN(cv::Mat grid, SampleGrid(folder, 4, 8, 96, c.seed, c.confine_root));
  CATDOG_ASSIGN_OR_RETURN(std::string png, EncodeImage(grid, ".png"));
  CATDOG_RETURN_IF_ERROR(tb.AddImage("Training Samples", png, grid.rows, grid.cols, 0));
  const std::string config = nlohmann::json::parse(TrainConfigToJson(c)).dump(2);
  CATDOG_RETURN_IF_ERROR(tb.AddText("Config", absl::StrCat("```\n", config, "\n```"), 0));
  return tb.Flush();
}

// The test evaluation of the best and the last weights, at the last epoch.
absl::Status WriteTestScalars(TensorBoardWriter& tb, const TrainingResult& r, const std::vector<std::string>& classes) {
  for (const auto& [name, metrics] : {std::pair{"Best", &r.test_best}, std::pair{"Last", &r.test_last}}) {
    if (!metrics->has_value()) continue;
    const EvalMetrics& m = **metrics;
    CATDOG_RETURN_IF_ERROR(tb.AddScalar(absl::StrCat("Test Accuracy (", name, ")"), static_cast<float>(m.accuracy),
                                        r.epochs_completed));
    CATDOG_RETURN_IF_ERROR(
        tb.AddScalar(absl::StrCat("Test Loss (", name, ")"), static_cast<float>(m.loss), r.epochs_completed));
    for (size_t k = 0; k < classes.size() && k < m.recall.size(); ++k) {
      CATDOG_RETURN_IF_ERROR(tb.AddScalar(absl::StrCat("Test Recall ", classes[k], " (", name, ")"),
                                          static_cast<float>(m.recall[k]), r.epochs_completed));
    }
  }
  return tb.Flush();
}

// INVALID_ARGUMENT when none of the first few files of some class decodes:
// a folder of files that are not images (or all corrupt) fails the request
// instead of the job. Undecodable files among good ones are skipped later.
absl::Status CheckEveryClassDecodes(const ImageFolder& folder, int image_size, const std::string& confine_root) {
  constexpr int kTries = 8;
  std::vector<int> tried(folder.classes.size(), 0);
  std::vector<bool> decoded(folder.classes.size(), false);
  std::vector<std::string> first_error(folder.classes.size());
  for (const Sample& sample : folder.samples) {
    const auto label = static_cast<size_t>(sample.label);
    if (decoded[label] || tried[label] >= kTries) continue;
    ++tried[label];
    absl::StatusOr<cv::Mat> image = ReadImageFile(sample.path, image_size, confine_root);
    if (image.ok()) {
      decoded[label] = true;
    } else if (first_error[label].empty()) {
      first_error[label] = std::string(image.status().message());
    }
  }
  for (size_t c = 0; c < folder.classes.size(); ++c) {
    if (decoded[c]) continue;
    return absl::InvalidArgumentError(absl::StrCat(
        "none of the first ", tried[c], " files of class '", folder.classes[c], "' in ", folder.root,
        " is a decodable image (", first_error[c], ")"));
  }
  return absl::OkStatus();
}

// Per-channel mean and standard deviation of `samples` at the configured
// image size (before augmentation), over all their pixels, in [0, 1] units.
absl::Status SetTrainingSplitStatistics(const std::vector<Sample>& samples, LoaderOptions options,
                                        Preprocessing& preprocessing) {
  options.shuffle = false;
  options.augment = false;
  options.cache_images = false;
  options.preprocessing.normalize = false;
  options.shard_rank = 0;  // every rank computes the same statistics
  options.shard_count = 1;
  CATDOG_ASSIGN_OR_RETURN(auto loader, BatchLoader::Create(samples, options));
  return TorchCall("training split statistics", [&]() -> absl::Status {
    at::Tensor sum = torch::zeros({3}, torch::kDouble), sum_sq = torch::zeros({3}, torch::kDouble);
    double pixels = 0.0;
    loader->StartEpoch(0);
    while (std::optional<Batch> batch = loader->Next()) {
      if (!batch->status.ok()) return batch->status;
      const at::Tensor x = batch->images.to(torch::kDouble);
      sum += x.sum({0, 2, 3});
      sum_sq += (x * x).sum({0, 2, 3});
      pixels += static_cast<double>(x.size(0) * x.size(2) * x.size(3));
    }
    if (pixels == 0.0) return absl::InvalidArgumentError("no decodable training images");
    const at::Tensor mean = sum / pixels;
    const at::Tensor std = (sum_sq / pixels - mean * mean).clamp_min(1e-12).sqrt();
    for (int k = 0; k < 3; ++k) {
      preprocessing.mean[k] = static_cast<float>(mean[k].item<double>());
      preprocessing.std[k] = std::max(static_cast<float>(std[k].item<double>()), 1e-3f);
    }
    preprocessing.normalize = true;
    return absl::OkStatus();
  });
}

}  // namespace

std::string Trainer::BestCheckpointPath(const TrainConfig& config) {
  return config.output_dir + "/best.ckpt";
}
std::string Trainer::LastCheckpointPath(const TrainConfig& config) {
  return config.output_dir + "/last.ckpt";
}
std::string Trainer::PartialCheckpointPath(const TrainConfig& config) {
  return config.output_dir + "/partial.ckpt";
}

namespace {

// The newest of output_dir's last.ckpt and partial.ckpt; nullopt when
// neither exists. A damaged file is passed over for the other one; when
// every file there is damaged, the error (a resume never silently starts
// over from damaged state).
absl::StatusOr<std::optional<Trainer::ResumeCandidate>> FindResumePoint(const TrainConfig& config,
                                                                        const ImageFolder& dataset) {
  std::optional<Trainer::ResumeCandidate> best;
  absl::Status error;
  for (const std::string& path : {Trainer::LastCheckpointPath(config), Trainer::PartialCheckpointPath(config)}) {
    absl::StatusOr<ResumePoint> point = ReadResumePoint(path);
    if (absl::IsNotFound(point.status())) continue;
    if (point.ok() && point->card.class_names != dataset.classes) {
      point = absl::InvalidArgumentError(absl::StrCat(path, ": trained on classes [",
                                                      absl::StrJoin(point->card.class_names, ", "),
                                                      "], the dataset now has [",
                                                      absl::StrJoin(dataset.classes, ", "), "]"));
    }
    if (point.ok() && (point->card.width != config.width ||
                       point->card.preprocessing.image_size != EvalImageSize(config))) {
      point = absl::InvalidArgumentError(
          absl::StrCat(path, ": written for width ", point->card.width, " evaluated at ",
                       point->card.preprocessing.image_size, " px, not this config's width ", config.width,
                       " at ", EvalImageSize(config), " px"));
    }
    if (!point.ok()) {
      spdlog::warn("cannot resume from {}: {}", path, point.status().message());
      if (error.ok()) error = point.status();
      continue;
    }
    if (!best || point->state.IsAfter(best->state)) {
      best = Trainer::ResumeCandidate{path, point->state, point->card.metrics};
    }
  }
  if (!best && !error.ok()) return error;
  return best;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const TrainConfig& config) {
  CATDOG_RETURN_IF_ERROR(ValidateTrainConfig(config));
  // What Run() would refuse, refused now: a job fails its request, not
  // minutes later.
  CATDOG_ASSIGN_OR_RETURN(const c10::Device device, ResolveDevice(config.device));
  CATDOG_ASSIGN_OR_RETURN(const Precision precision, ParsePrecision(config.precision));
  CATDOG_RETURN_IF_ERROR(CheckTrainingPrecision(device, precision));
  if (config.workers > 1 || config.nproc_per_node > 1) {
    const char* what = config.workers > 1 ? "workers > 1" : "nproc_per_node > 1";
    if (!DistributedAvailable()) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, " needs c10d's Gloo backend, which this build lacks (LibTorch's distributed headers and "
          "libgloo-dev)"));
    }
    if (device.is_cuda()) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, " trains on the CPU, but device '", config.device,
          "' is CUDA: use --device cpu, or one process per GPU (catdog-train under torchrun)"));
    }
    if (precision == Precision::kFp16) return absl::FailedPreconditionError(absl::StrCat(what, " cannot train fp16"));
  }
  CATDOG_ASSIGN_OR_RETURN(ImageFolder dataset, ScanImageFolder(config.dataset_root, config.confine_root));
  CATDOG_RETURN_IF_ERROR(CheckEveryClassDecodes(dataset, config.preprocessing.image_size, config.confine_root));
  std::optional<ImageFolder> test;
  if (!config.test_root.empty()) {
    CATDOG_ASSIGN_OR_RETURN(test, ScanImageFolder(config.test_root, config.confine_root));
    if (test->classes != dataset.classes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "test root ", config.test_root, " has different class folders than ", config.dataset_root));
    }
    CATDOG_RETURN_IF_ERROR(CheckEveryClassDecodes(*test, config.preprocessing.image_size, config.confine_root));
  }
  SplitResult split = StratifiedSplit(dataset.samples, static_cast<int>(dataset.classes.size()),
                                      config.valid_fraction, config.split_seed);
  if (split.train.size() < 2 || split.valid.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset ", config.dataset_root, " has ", dataset.samples.size(),
        " images: too few for a train/valid split at fraction ", config.valid_fraction));
  }
  std::optional<ResumeCandidate> resume;
  if (config.resume) {
    CATDOG_ASSIGN_OR_RETURN(resume, FindResumePoint(config, dataset));
  }
  return std::unique_ptr<Trainer>(
      new Trainer(config, std::move(dataset), std::move(split), std::move(test), std::move(resume)));
}

std::optional<EpochMetrics> Trainer::resumes_after() const {
  if (!resume_ || resume_->state.epochs_completed == 0) return std::nullopt;
  return resume_->metrics;
}

int64_t Trainer::estimated_peak_bytes() const {
  // Calibrated on this CPU build (peak RSS of catdog-train at 64-160 px,
  // widths 0.25-1, batches 8-32), rounded up so it stays an upper bound: the
  // runtime's own ~250 MiB, 32 bytes a parameter (fp32 weights, gradients,
  // Adam's two moments, oneDNN's reordered copies), 12 bytes an activation
  // element (the convolution, batch norm and ReLU outputs kept for backward).
  const TrainConfig& c = config_;
  const VggShape shape =
      ShapeOf(VggOptions{static_cast<int>(dataset_.classes.size()), c.width}, c.preprocessing.image_size);
  const int64_t pixels = 3LL * c.preprocessing.image_size * c.preprocessing.image_size;
  const double source = CropSourceScale(c.augment);  // training images kept larger for resized crops
  const int64_t decoded = static_cast<int64_t>(  // uint8 copies, kept only when all fit the budget
      static_cast<double>(pixels) *
      (source * source * static_cast<double>(split_.train.size()) + static_cast<double>(split_.valid.size())));
  const int64_t cache = decoded <= (c.cache_budget_mb << 20) ? decoded : 0;
  const int64_t prefetched = 4LL * pixels * c.batch_size * (c.prefetch_batches + 1);  // float batches
  // Each of `workers` ranks holds the whole model, Adam's state, the moving
  // average's 4 bytes a parameter and its own image cache (a rank's shard
  // moves every epoch, so each ends up caching every image); the batch and
  // the prefetched batches are split; the reducer's buckets are another
  // copy of the gradients.
  // Ranks that are processes (nproc_per_node) each bring their own runtime.
  const int ranks = std::max(c.workers, c.nproc_per_node);
  const int64_t per_parameter = 32 + (c.ema_decay > 0.0 ? 4 : 0) + (ranks > 1 && !c.allreduce_after_backward ? 4 : 0);
  return (int64_t{256} << 20) * c.nproc_per_node + (per_parameter * shape.parameters + cache) * ranks +
         12 * shape.activations_per_image * c.batch_size + prefetched;
}

absl::StatusOr<TrainingResult> Trainer::Run(TrainingObserver* observer, const StopToken* stop) {
  const int threads_before = torch::get_num_threads();
  absl::StatusOr<TrainingResult> result =
      config_.workers > 1 || config_.nproc_per_node > 1 ? TrainAsRanks(observer, stop) : Train(observer, stop);
  // The job's thread count was its own: the process (catdogd's serving)
  // gets its own back.
  torch::set_num_threads(threads_before);
  ReleaseFreeHostMemory();  // the run's activations, loader buffers and image cache
  return result;
}

absl::StatusOr<TrainingResult> Trainer::TrainAsRanks(TrainingObserver* observer, const StopToken* stop) {
  if (group_ != nullptr) {
    return absl::FailedPreconditionError("data-parallel ranks inside a process group: use one or the other");
  }
  const bool processes = config_.nproc_per_node > 1;
  const int n = processes ? config_.nproc_per_node : config_.workers;
  TrainConfig rank_config = config_;
  rank_config.workers = 1;
  rank_config.nproc_per_node = 1;
  rank_config.batch_size = config_.batch_size / n;
  rank_config.threads = std::max(1, ThreadBudget(config_.threads) / n);
  // Long enough for rank 0's checkpoint writes between two collectives; a
  // rank that fails closes its connections, which fails the others at once.
  const absl::Duration timeout = absl::Minutes(10);
  return processes ? TrainAsProcesses(rank_config, timeout, observer, stop)
                   : TrainAsThreads(rank_config, timeout, observer, stop);
}

absl::StatusOr<TrainingResult> Trainer::TrainAsThreads(const TrainConfig& rank_config, absl::Duration timeout,
                                                       TrainingObserver* observer, const StopToken* stop) {
  const int n = config_.workers;
  LocalRendezvous rendezvous(n, timeout);
  std::vector<absl::StatusOr<TrainingResult>> results(n, absl::UnknownError("rank did not run"));
  auto run_rank = [&](int rank) {
    Trainer trainer(rank_config, dataset_, split_, test_, resume_);
    absl::StatusOr<std::unique_ptr<ProcessGroup>> group = ProcessGroup::JoinLocal(rendezvous, rank);
    if (!group.ok()) {
      results[rank] = group.status();
      return;
    }
    trainer.set_process_group(group->get());
    results[rank] = trainer.Train(rank == 0 ? observer : nullptr, stop);
    if (!results[rank].ok() && !absl::IsCancelled(results[rank].status())) {
      spdlog::warn("rank {} of {}: {}", rank, n, results[rank].status().ToString());
    }
  };
  std::vector<std::thread> threads;
  for (int rank = 1; rank < n; ++rank) threads.emplace_back(run_rank, rank);
  run_rank(0);
  for (std::thread& t : threads) t.join();
  // Rank 0's outcome, unless it only saw another rank fail (UNAVAILABLE):
  // then the first rank's own error says what happened.
  if (absl::IsUnavailable(results[0].status())) {
    for (const auto& r : results) {
      if (!r.ok() && !absl::IsUnavailable(r.status())) return r.status();
    }
  }
  return std::move(results[0]);
}

absl::StatusOr<TrainingResult> Trainer::TrainAsProcesses(const TrainConfig& rank_config, absl::Duration timeout,
                                                         TrainingObserver* observer, const StopToken* stop) {
  const int n = config_.nproc_per_node;
  std::error_code ec;
  std::filesystem::create_directories(config_.output_dir, ec);  // the children's logs go there
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", config_.output_dir, ": ", ec.message()));
  CATDOG_ASSIGN_OR_RETURN(std::unique_ptr<RendezvousHost> host, RendezvousHost::Listen(n, timeout));
  CATDOG_ASSIGN_OR_RETURN(std::unique_ptr<ChildRanks> children,
                          ChildRanks::Start(n, host->port(), TrainConfigToJson(rank_config), config_.output_dir));
  CATDOG_ASSIGN_OR_RETURN(std::unique_ptr<ProcessGroup> group,
                          ProcessGroup::JoinHost(*host, [&] { return children->Check(); }));
  Trainer trainer(rank_config, dataset_, split_, test_, resume_);
  trainer.set_process_group(group.get());
  absl::StatusOr<TrainingResult> result = trainer.Train(observer, stop);
  // After a finished or stopped run the children leave on their own once
  // their last collective is done; after a failure rank 0 closes its
  // connections first, so the children blocked in a collective fail at once.
  const bool clean = result.ok() || absl::IsCancelled(result.status());
  if (!clean) group.reset();
  const absl::Status ended = children->Wait(clean ? timeout : absl::Minutes(1));
  group.reset();
  if (result.ok() && !ended.ok()) spdlog::warn("after the run: {}", ended.ToString());
  // A rank that failed on its own says more than rank 0's failed collective.
  if (absl::IsUnavailable(result.status()) && !ended.ok() && !absl::IsCancelled(ended)) return ended;
  return result;
}

absl::StatusOr<TrainingResult> Trainer::Train(TrainingObserver* observer, const StopToken* stop) {
  const auto run_start = Clock::now();
  // The config as run: with --normalize-from-train, the split's statistics
  // replace preprocessing.mean/std (and reach the model card from here).
  TrainConfig run_config = config_;
  const TrainConfig& c = run_config;
  const int threads = ConfigureThreads(c.threads);
  CATDOG_ASSIGN_OR_RETURN(const c10::Device device, ResolveDevice(c.device));
  CATDOG_ASSIGN_OR_RETURN(const Precision precision, ParsePrecision(c.precision));
  CATDOG_RETURN_IF_ERROR(CheckTrainingPrecision(device, precision));
  ConfigureDevice(device);
  const int num_classes = static_cast<int>(dataset_.classes.size());
  if (group_ != nullptr && device.is_cuda()) {
    return absl::FailedPreconditionError(
        "data-parallel training runs on the CPU (Gloo) for now; use --device cpu (no NCCL path yet)");
  }
  if (group_ != nullptr && precision == Precision::kFp16) {
    return absl::FailedPreconditionError(
        "fp16 loss scaling trains in one process only; use --precision bf16 or fp32 for data-parallel training");
  }
  // Only rank 0 reports: the others' epochs are the same epochs.
  if (group_ != nullptr && group_->rank() != 0) observer = nullptr;

  // Decoded images stay in RAM when train + valid fit the budget (training
  // images larger, as sources of resized crops).
  const int64_t bytes_per_image = 3LL * c.preprocessing.image_size * c.preprocessing.image_size;
  const double source = CropSourceScale(c.augment);
  const double eval_scale = static_cast<double>(EvalImageSize(c)) / c.preprocessing.image_size;
  const int64_t cache_bytes = static_cast<int64_t>(
      static_cast<double>(bytes_per_image) * (source * source * static_cast<double>(split_.train.size()) +
                                              eval_scale * eval_scale * static_cast<double>(split_.valid.size())));
  const bool cache = cache_bytes <= c.cache_budget_mb * (1LL << 20);

  LoaderOptions train_opts;
  train_opts.batch_size = c.batch_size;
  train_opts.preprocessing = c.preprocessing;
  train_opts.shuffle = true;
  train_opts.seed = c.seed;
  train_opts.augment = true;
  train_opts.augment_options = c.augment;
  train_opts.num_workers = c.loader_workers;
  train_opts.prefetch_batches = c.prefetch_batches;
  train_opts.cache_images = cache;
  train_opts.confine_root = c.confine_root;
  train_opts.pin_memory = device.is_cuda();
  if (c.normalize_from_train) {
    CATDOG_RETURN_IF_ERROR(SetTrainingSplitStatistics(split_.train, train_opts, run_config.preprocessing));
    train_opts.preprocessing = c.preprocessing;
    spdlog::info("training split statistics: mean {:.4f},{:.4f},{:.4f} std {:.4f},{:.4f},{:.4f}",
                 c.preprocessing.mean[0], c.preprocessing.mean[1], c.preprocessing.mean[2],
                 c.preprocessing.std[0], c.preprocessing.std[1], c.preprocessing.std[2]);
  }
  LoaderOptions eval_opts = train_opts;
  eval_opts.shuffle = false;
  eval_opts.augment = false;
  eval_opts.preprocessing.image_size = EvalImageSize(c);
  if (group_ != nullptr) {
    train_opts.shard_rank = eval_opts.shard_rank = group_->rank();
    train_opts.shard_count = eval_opts.shard_count = group_->world_size();
    eval_opts.pad_shards = false;  // each validation image counted once
  }

  RunState s{c,       dataset_.classes, device,   precision,       std::nullopt, Vgg16(nullptr), Vgg16(nullptr),
             nullptr, nullptr,          nullptr,  observer,        stop,         TrainingState{},
             EpochMetrics{}, Clock::now(), nullptr, nullptr};
  if (precision == Precision::kFp16) s.scaler.emplace();
  s.group = group_;
  // Validation and test passes run under the same autocast as training.
  auto evaluate = [&](BatchLoader& loader, const StopToken* stop_token) {
    AutocastScope autocast(device, precision);
    return Evaluate(s.served(), loader, device, num_classes, stop_token, c.preprocessing.tta_flip);
  };
  // Validation: every rank's part, summed. As PyTorch DDP broadcasts
  // buffers before a forward pass, every rank evaluates with rank 0's
  // BatchNorm running statistics: the model rank 0 saves is the model
  // validated.
  auto validate = [&]() -> absl::StatusOr<EvalMetrics> {
    if (group_ != nullptr) {
      CATDOG_RETURN_IF_ERROR(group_->Broadcast(s.model->buffers()));
      if (!s.average.is_empty()) CATDOG_RETURN_IF_ERROR(group_->Broadcast(s.average->buffers()));
    }
    // A rank validates its part to the end (the sum below needs every
    // rank); a stop is taken after it, by all ranks together.
    CATDOG_ASSIGN_OR_RETURN(EvalMetrics m, evaluate(*s.valid, group_ == nullptr ? stop : nullptr));
    if (group_ == nullptr) return m;
    std::vector<double> sums = {m.loss * static_cast<double>(m.count), static_cast<double>(m.count)};
    for (const auto& row : m.confusion) sums.insert(sums.end(), row.begin(), row.end());
    CATDOG_RETURN_IF_ERROR(group_->Sum(&sums));
    m.count = static_cast<int64_t>(sums[1]);
    m.loss = sums[0] / static_cast<double>(m.count);
    size_t at = 2;
    for (auto& row : m.confusion) {
      for (int64_t& cell : row) cell = static_cast<int64_t>(sums[at++]);
    }
    FinishEvalMetrics(m);
    return m;
  };
  CATDOG_ASSIGN_OR_RETURN(s.train, BatchLoader::Create(split_.train, train_opts));
  CATDOG_ASSIGN_OR_RETURN(s.valid, BatchLoader::Create(split_.valid, eval_opts));
  CATDOG_RETURN_IF_ERROR(TorchCall("building model", [&] {
    // The seed and the draws from LibTorch's global generator, together:
    // other runs (jobs, ranks) build models on other threads.
    static std::mutex global_rng;
    std::lock_guard<std::mutex> lock(global_rng);
    torch::manual_seed(c.seed);
    s.model = Vgg16(VggOptions{num_classes, c.width});
    s.model->to(device);
    // NHWC convolutions: the layout of cuDNN's tensor-core kernels, and
    // faster with oneDNN on CPU too (BENCHMARKS.md).
    ToChannelsLast(*s.model);
    if (c.ema_decay > 0.0) {  // its weights are copied in once the model's are final
      s.average = Vgg16(VggOptions{num_classes, c.width});
      s.average->to(device);
      ToChannelsLast(*s.average);
    }
    s.optimizer = std::make_unique<MultiTensorAdam>(
        s.model->parameters(), torch::optim::AdamOptions(c.learning_rate).weight_decay(c.weight_decay),
        /*decoupled_weight_decay=*/c.optimizer == "adamw");
  }));
  if (group_ != nullptr) {  // every rank starts from rank 0's weights
    std::vector<at::Tensor> state = s.model->parameters();
    for (const at::Tensor& b : s.model->buffers()) state.push_back(b);
    CATDOG_RETURN_IF_ERROR(group_->Broadcast(state));
    if (!c.allreduce_after_backward) s.reducer = std::make_unique<GradientReducer>(*group_, s.model->parameters());
  }
  if (!s.average.is_empty()) CopyWeights(s.model, s.average);
  spdlog::info(
      "training {} ({} classes, {} train / {} valid images, {} px, width {}, {} params) on {} "
      "({}) with {} threads; image cache {}",
      c.dataset_root, num_classes, split_.train.size(), split_.valid.size(),
      c.preprocessing.image_size, c.width, CountParameters(*s.model), device.str(),
      PrecisionName(precision), threads,
      cache ? absl::StrCat("on (", cache_bytes >> 20, " MiB)") : std::string("off (over budget)"));

  std::unique_ptr<TensorBoardWriter> tb;
  if (!c.tensorboard_dir.empty() && s.writes()) {
    CATDOG_ASSIGN_OR_RETURN(tb, TensorBoardWriter::Create(c.tensorboard_dir));
    if (!resume_) {
      if (absl::Status overview = WriteRunOverview(*tb, c, dataset_.classes, split_.train); !overview.ok()) {
        spdlog::warn("TensorBoard samples and config not written: {}", overview.message());
      }
    }
  }

  PlateauScheduler::Options plateau;
  plateau.initial_lr = c.learning_rate;
  plateau.factor = c.lr_factor;
  plateau.patience = c.lr_patience;
  PlateauScheduler scheduler(plateau);
  EarlyStopping early_stopping(c.early_stop_patience);
  TrainingResult result;
  result.best_checkpoint = BestCheckpointPath(c);
  result.last_checkpoint = LastCheckpointPath(c);
  result.best_valid_accuracy = -1.0;
  s.position.learning_rate = scheduler.lr();
  s.cosine = c.lr_schedule == "cosine";
  s.warmup_steps = std::llround(c.warmup_epochs * static_cast<double>(s.train->num_batches()));
  // A time budget plans the epochs after the first one; until then the
  // cosine holds its peak after the warmup.
  s.planned_epochs = c.time_budget_min > 0.0 ? 0 : c.epochs;
  if (resume_) {
    const TrainingState& r = resume_->state;
    CATDOG_RETURN_IF_ERROR(LoadTrainingCheckpoint(resume_->path, s.model, *s.optimizer, device,
                                                  s.average.is_empty() ? nullptr : &s.average));
    scheduler.Restore(r.learning_rate, r.plateau_best, r.plateau_bad_epochs, r.plateau_cooldown_left);
    SetLearningRate(*s.optimizer, scheduler.lr());
    early_stopping.Restore(r.early_stop_best, r.early_stop_trigger);
    if (s.scaler && r.loss_scale > 0.0) s.scaler->Restore(r.loss_scale, r.loss_scale_clean_steps);
    result.best_valid_accuracy = r.best_valid_accuracy;
    result.best_epoch = r.best_epoch;
    result.epochs_completed = r.epochs_completed;
    result.early_stopped = r.early_stop_trigger > c.early_stop_patience;
    s.position = r;
    if (r.planned_epochs > 0) s.planned_epochs = r.planned_epochs;
    s.last_metrics = resume_->metrics;
    spdlog::info("resuming from {}: {} epochs complete, {} batches into epoch {}", resume_->path,
                 r.epochs_completed, r.batches_done, r.epochs_completed + 1);
  }

  auto last_epoch = [&] { return s.planned_epochs > 0 ? s.planned_epochs : c.epochs; };
  for (int64_t epoch = result.epochs_completed + 1; epoch <= last_epoch() && !result.early_stopped; ++epoch) {
    const auto start = Clock::now();
    EpochMetrics m;
    m.epoch = epoch;
    m.learning_rate = s.cosine ? s.LearningRateAt(epoch, 1) : scheduler.lr();
    CATDOG_ASSIGN_OR_RETURN(EpochStats train, TrainEpoch(s, epoch));
    const double train_seconds = SecondsSince(start);
    const auto valid_start = Clock::now();
    absl::StatusOr<EvalMetrics> evaluated = validate();
    const double valid_seconds = SecondsSince(valid_start);
    bool stopping = StopRequested(stop);
    if (group_ != nullptr && evaluated.ok()) {  // rank 0's answer binds all
      CATDOG_ASSIGN_OR_RETURN(const int64_t decided, group_->BroadcastValue(stopping ? 1 : 0));
      stopping = decided != 0;
    }
    if (stopping) {
      // Stopped during validation: the epoch's training is kept.
      if (c.checkpoint_interval_min > 0.0) {
        CATDOG_RETURN_IF_ERROR(WritePartialCheckpoint(s, s.train->position(), train.loss_sum, train.images));
      }
      return absl::CancelledError("training cancelled");
    }
    CATDOG_ASSIGN_OR_RETURN(EvalMetrics valid, std::move(evaluated));
    m.train_loss = train.loss;
    m.valid_loss = valid.loss;
    m.valid_accuracy = valid.accuracy;
    m.train_images_per_second = train.images / std::max(train_seconds, 1e-9);
    m.data_wait_seconds = train.wait_seconds;
    if (!s.cosine && scheduler.Step(valid.loss)) {
      SetLearningRate(*s.optimizer, scheduler.lr());
      spdlog::info("epoch {}: valid loss plateaued, learning rate -> {:g}", epoch, scheduler.lr());
    }
    bool stop_early = early_stopping.Step(valid.loss);
    if (group_ != nullptr) {  // the ranks' metrics are equal; rank 0's decision binds all the same
      CATDOG_ASSIGN_OR_RETURN(const int64_t decided, group_->BroadcastValue(stop_early ? 1 : 0));
      stop_early = decided != 0;
    }
    if (s.planned_epochs == 0) {  // a time budget, after this run's first epoch
      // The test evaluation at the end runs the best and the last weights
      // over the test root: about twice this validation per image.
      const double test_s =
          test_ ? 2.0 * valid_seconds * static_cast<double>(test_->samples.size()) /
                      static_cast<double>(std::max<size_t>(split_.valid.size(), 1))
                : 0.0;
      int64_t planned = EpochsWithinBudget(c.time_budget_min * 60.0, SecondsSince(run_start),
                                           SecondsSince(start), test_s, epoch, c.epochs);
      if (group_ != nullptr) {
        CATDOG_ASSIGN_OR_RETURN(planned, group_->BroadcastValue(planned));
      }
      s.planned_epochs = planned;
      spdlog::info("time budget {:g} min: epoch {} took {:.1f} s, {:.1f} s so far; planning {} epochs",
                   c.time_budget_min, epoch, SecondsSince(start), SecondsSince(run_start), planned);
    }
    m.planned_epochs = last_epoch();
    m.early_stop_trigger = early_stopping.trigger();
    m.is_best = c.best_by == "last" || valid.accuracy > result.best_valid_accuracy;
    m.seconds = SecondsSince(start);
    if (m.is_best) {
      result.best_valid_accuracy = valid.accuracy;
      result.best_epoch = epoch;
      CATDOG_RETURN_IF_ERROR(WriteCheckpoint(s, CheckpointKind::kBest, result.best_checkpoint, m));
    }
    s.position = TrainingState{};
    s.position.epochs_completed = epoch;
    s.position.planned_epochs = s.planned_epochs;
    s.position.learning_rate = s.cosine ? s.LearningRateAt(epoch + 1, 1) : scheduler.lr();
    s.position.plateau_best = scheduler.best();
    s.position.plateau_bad_epochs = scheduler.bad_epochs();
    s.position.plateau_cooldown_left = scheduler.cooldown_left();
    s.position.early_stop_best = early_stopping.best();
    s.position.early_stop_trigger = early_stopping.trigger();
    s.position.best_valid_accuracy = result.best_valid_accuracy;
    s.position.best_epoch = result.best_epoch;
    s.last_metrics = m;
    CATDOG_RETURN_IF_ERROR(WriteCheckpoint(s, CheckpointKind::kLast, result.last_checkpoint, m));
    // last.ckpt is now ahead of any mid-epoch checkpoint.
    std::error_code ignored;
    if (s.writes()) std::filesystem::remove(PartialCheckpointPath(c), ignored);
    result.epochs_completed = epoch;
    if (observer != nullptr) observer->OnEpochEnd(m);
    if (absl::Status tb_status = WriteScalars(tb.get(), m); !tb_status.ok()) {
      spdlog::warn("TensorBoard write failed, disabling it: {}", tb_status.message());
      tb.reset();
    }
    if (stop_early) {
      result.early_stopped = true;
      spdlog::info("early stop after epoch {} (valid loss above best for {} epochs)", epoch,
                   early_stopping.trigger());
      break;
    }
  }
  result.skipped_files = s.train->skipped_files() + s.valid->skipped_files();

  if (test_ && s.writes()) {  // rank 0 alone, over the whole test set
    CATDOG_ASSIGN_OR_RETURN(auto test_loader, BatchLoader::Create(test_->samples, [&] {
      LoaderOptions o = eval_opts;
      o.cache_images = false;  // evaluated twice at most; not worth the memory
      o.shard_rank = 0;
      o.shard_count = 1;
      return o;
    }()));
    CATDOG_ASSIGN_OR_RETURN(result.test_last, evaluate(*test_loader, stop));
    if (observer != nullptr) observer->OnTestEvaluation(CheckpointKind::kLast, *result.test_last);
    CATDOG_RETURN_IF_ERROR(LoadWeightsInto(result.best_checkpoint, s.served()));
    CATDOG_ASSIGN_OR_RETURN(result.test_best, evaluate(*test_loader, stop));
    if (observer != nullptr) observer->OnTestEvaluation(CheckpointKind::kBest, *result.test_best);
    result.skipped_files += test_loader->skipped_files();
    if (tb != nullptr) {
      if (absl::Status written = WriteTestScalars(*tb, result, dataset_.classes); !written.ok()) {
        spdlog::warn("TensorBoard test metrics not written: {}", written.message());
      }
    }
  }
  return result;
}

}  // namespace catdog::common
