#include "common/ml/trainer.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/data/image_folder.h"
#include "common/data/model_card.h"
#include "common/data/train_preset.h"
#include "common/data/transforms.h"
#include "common/ml/checkpoint.h"
#include "common/ml/rank_processes.h"
#include "common/data/image_io.h"
#include "tests/support/tensorboard_events.h"
#include "tests/support/test_data.h"

namespace catdog::common {
namespace {

using catdog::testing::TempDir;
using catdog::testing::TinyTrainConfig;

// Records every callback; optionally requests a stop at a given point.
class RecordingObserver : public TrainingObserver {
 public:
  void OnProgress(const Progress& p) override {
    progress.push_back(p);
    if (on_progress) on_progress(p);
    if (stop_at_epoch == p.epoch && stop_at_batch == p.batches_done && stop != nullptr) {
      stop->RequestStop();
    }
  }
  void OnEpochEnd(const EpochMetrics& m) override { epochs.push_back(m); }
  void OnCheckpoint(CheckpointKind kind, const std::string& path, const EpochMetrics&) override {
    checkpoints.emplace_back(CheckpointKindName(kind), path);
  }
  void OnTestEvaluation(CheckpointKind kind, const EvalMetrics& m) override {
    tests.emplace_back(CheckpointKindName(kind), m);
  }

  std::vector<Progress> progress;
  std::vector<EpochMetrics> epochs;
  std::vector<std::pair<std::string, std::string>> checkpoints;
  std::vector<std::pair<std::string, EvalMetrics>> tests;
  std::function<void(const Progress&)> on_progress;
  StopToken* stop = nullptr;
  int64_t stop_at_epoch = -1;
  int64_t stop_at_batch = -1;
};

// The pids of this process's children started as ranks.
std::vector<pid_t> ChildRankPids() {
  std::vector<pid_t> pids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line) || line.rfind(')') == std::string::npos) continue;
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    char state = 0;
    pid_t parent = 0;
    rest >> state >> parent;
    std::ifstream cmdline(entry.path() / "cmdline");
    const std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    if (parent == getpid() && args.find("--rank-config") != std::string::npos) {
      pids.push_back(std::stoi(entry.path().filename().string()));
    }
  }
  return pids;
}

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetRankProgram(CATDOG_TRAIN_BINARY);  // this test binary cannot be a rank
    catdog::testing::WriteSyntheticDataset(dir_.Sub("data"), 40, 32);
    catdog::testing::WriteSyntheticDataset(dir_.Sub("test"), 10, 32, /*seed=*/7);
  }
  TrainConfig Config() const { return TinyTrainConfig(dir_.Sub("data"), dir_.Sub("out")); }

  // Trains `config` to its end; the epochs it reported go to `epochs`.
  static absl::StatusOr<TrainingResult> RunToEnd(const TrainConfig& config, std::vector<EpochMetrics>& epochs) {
    auto trainer = Trainer::Create(config);
    if (!trainer.ok()) return trainer.status();
    RecordingObserver observer;
    auto result = (*trainer)->Run(&observer, nullptr);
    epochs = observer.epochs;
    return result;
  }

  TempDir dir_;
};

TEST_F(TrainerTest, LearnsSyntheticClassesAndReportsEveryEpoch) {
  TrainConfig config = Config();
  config.test_root = dir_.Sub("test");
  config.tensorboard_dir = dir_.Sub("tb/run1");
  auto trainer = Trainer::Create(config);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  EXPECT_EQ((*trainer)->train_size(), 64u);
  EXPECT_EQ((*trainer)->valid_size(), 16u);
  RecordingObserver observer;
  auto result = (*trainer)->Run(&observer, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();

  EXPECT_GE(result->best_valid_accuracy, 0.95);
  ASSERT_EQ(observer.epochs.size(), 5u);
  for (size_t i = 0; i < observer.epochs.size(); ++i) {
    const EpochMetrics& m = observer.epochs[i];
    EXPECT_EQ(m.epoch, static_cast<int64_t>(i + 1));
    EXPECT_GT(m.train_loss, 0.0);
    EXPECT_GT(m.train_images_per_second, 0.0);
    EXPECT_DOUBLE_EQ(m.learning_rate, 3e-3);
  }
  EXPECT_TRUE(observer.epochs[0].is_best);
  // 8 batches per epoch, progress after each.
  ASSERT_EQ(observer.progress.size(), 40u);
  EXPECT_EQ(observer.progress.back().batches_done, 8);
  EXPECT_EQ(observer.progress.back().batches_total, 8);

  EXPECT_TRUE(std::filesystem::exists(result->best_checkpoint));
  EXPECT_TRUE(std::filesystem::exists(result->last_checkpoint));
  auto last = ReadModelCard(result->last_checkpoint);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->metrics.epoch, 5);
  EXPECT_EQ(last->class_names, (std::vector<std::string>{"cat", "dog"}));
  auto best = ReadModelCard(result->best_checkpoint);
  ASSERT_TRUE(best.ok());
  EXPECT_EQ(best->metrics.epoch, result->best_epoch);
  EXPECT_DOUBLE_EQ(best->metrics.valid_accuracy, result->best_valid_accuracy);

  ASSERT_TRUE(result->test_best.has_value());
  ASSERT_TRUE(result->test_last.has_value());
  EXPECT_EQ(result->test_best->count, 20);
  EXPECT_GE(result->test_best->accuracy, 0.9);
  ASSERT_EQ(observer.tests.size(), 2u);
  int64_t total = 0;
  for (const auto& row : result->test_best->confusion)
    for (int64_t v : row) total += v;
  EXPECT_EQ(total, 20);

  std::string events_file;
  for (const auto& e : std::filesystem::directory_iterator(dir_.Sub("tb/run1")))
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) events_file = e.path().string();
  ASSERT_FALSE(events_file.empty());
  // The notebook's 4x8 sample grid, the config, the curves and the test metrics.
  std::map<std::string, int> tags;
  for (const auto& event : catdog::testing::ReadEvents(events_file)) {
    for (const auto& v : event.summary().value()) {
      ++tags[v.tag()];
      if (v.has_image()) {
        absl::StatusOr<cv::Mat> grid = DecodeImage(v.image().encoded_image_string());
        ASSERT_TRUE(grid.ok()) << grid.status();
        EXPECT_EQ(grid->rows, 4 * 96);
        EXPECT_EQ(grid->cols, 8 * 96);
      }
      if (v.tag() == "Config") {
        EXPECT_NE(v.tensor().string_val(0).find("\"epochs\": 5"), std::string::npos);
      }
      if (v.tag() == "Test Accuracy (Best)") {
        EXPECT_NEAR(v.simple_value(), result->test_best->accuracy, 1e-6);
      }
    }
  }
  EXPECT_EQ(tags["Training Samples"], 1);
  EXPECT_EQ(tags["Config"], 1);
  EXPECT_EQ(tags["Valid Accuracy"], 5);
  EXPECT_EQ(tags["Test Accuracy (Best)"], 1);
  EXPECT_EQ(tags["Test Loss (Last)"], 1);
  EXPECT_EQ(tags["Test Recall dog (Best)"], 1);
}

// With smoothing s over K = 2 classes the targets are (1 - s/2, s/2), whose
// entropy bounds the training loss from below; validation loss stays plain
// cross-entropy, so it falls below that bound once the model is right.
TEST_F(TrainerTest, LabelSmoothingBoundsTheTrainingLossOnly) {
  TrainConfig config = Config();
  config.label_smoothing = 0.5;
  auto trainer = Trainer::Create(config);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  RecordingObserver observer;
  auto result = (*trainer)->Run(&observer, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  const double floor = -(0.75 * std::log(0.75) + 0.25 * std::log(0.25));  // 0.5623
  for (const EpochMetrics& m : observer.epochs) EXPECT_GE(m.train_loss, floor - 1e-3) << "epoch " << m.epoch;
  EXPECT_GE(result->best_valid_accuracy, 0.9);
  EXPECT_LT(observer.epochs.back().valid_loss, floor);

  config.label_smoothing = 1.0;
  EXPECT_EQ(Trainer::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TrainerTest, FastRecipeTrainsWithItsOwnStatisticsAndSchedule) {
  TrainConfig config = Config();
  ASSERT_TRUE(ApplyTrainPreset("fast", config, [](const TrainConfigField& f) {
                const std::string name = f.name;  // the tiny dataset's model, batches and rate
                return name == "batch_size" || name == "width" || name == "learning_rate";
              }).ok());
  config.test_root = dir_.Sub("test");
  auto trainer = Trainer::Create(config);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  RecordingObserver observer;
  auto result = (*trainer)->Run(&observer, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_GE(result->best_valid_accuracy, 0.9);
  ASSERT_TRUE(result->test_best.has_value());
  EXPECT_GE(result->test_best->accuracy, 0.9);

  // Warmup over epoch 1 (its first rate is peak / its batch count), then
  // the cosine from the peak down towards 0 at the end of epoch 5.
  ASSERT_EQ(observer.epochs.size(), 5u);
  const int64_t batches = static_cast<int64_t>((*trainer)->train_size() + config.batch_size - 1) / config.batch_size;
  EXPECT_DOUBLE_EQ(observer.epochs[0].learning_rate, config.learning_rate / static_cast<double>(batches));
  EXPECT_DOUBLE_EQ(observer.epochs[1].learning_rate, config.learning_rate);
  for (size_t i = 2; i < observer.epochs.size(); ++i) {
    EXPECT_LT(observer.epochs[i].learning_rate, observer.epochs[i - 1].learning_rate) << "epoch " << i + 1;
  }
  EXPECT_LT(observer.epochs.back().learning_rate, config.learning_rate / 2);

  // The card carries the training split's own mean and std, the mirror
  // averaging and the larger evaluation size to serving.
  auto card = ReadModelCard(result->best_checkpoint);
  ASSERT_TRUE(card.ok()) << card.status();
  EXPECT_TRUE(card->preprocessing.normalize);
  EXPECT_TRUE(card->preprocessing.tta_flip);
  EXPECT_EQ(card->preprocessing.image_size, 36);  // 1.125 x the 32 px trained on
  auto folder = ScanImageFolder(config.dataset_root);
  ASSERT_TRUE(folder.ok());
  const SplitResult split = StratifiedSplit(folder->samples, 2, config.valid_fraction, config.split_seed);
  double sum[3] = {0, 0, 0}, sum_sq[3] = {0, 0, 0}, n = 0;
  for (const Sample& sample : split.train) {
    auto image = ReadImageFile(sample.path, 32);
    ASSERT_TRUE(image.ok());
    const cv::Mat resized = Resize(*image, 32, 32);
    for (int r = 0; r < 32; ++r) {
      for (int c = 0; c < 32; ++c) {
        const cv::Vec3b px = resized.at<cv::Vec3b>(r, c);
        for (int k = 0; k < 3; ++k) {
          sum[k] += px[k] / 255.0;
          sum_sq[k] += (px[k] / 255.0) * (px[k] / 255.0);
        }
        n += 1;
      }
    }
  }
  for (int k = 0; k < 3; ++k) {
    const double mean = sum[k] / n;
    EXPECT_NEAR(card->preprocessing.mean[k], mean, 1e-4) << "channel " << k;
    EXPECT_NEAR(card->preprocessing.std[k], std::sqrt(sum_sq[k] / n - mean * mean), 1e-4) << "channel " << k;
  }
}

TEST_F(TrainerTest, TimeBudgetPlansTheEpochCountAfterTheFirst) {
  TrainConfig config = Config();
  config.epochs = 50;
  config.time_budget_min = 1e-6;  // spent by the first epoch
  auto trainer = Trainer::Create(config);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  RecordingObserver observer;
  auto result = (*trainer)->Run(&observer, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->epochs_completed, 1);
  ASSERT_EQ(observer.epochs.size(), 1u);
  EXPECT_EQ(observer.epochs[0].planned_epochs, 1);  // what watch and jobs show, not --epochs 50

  config.epochs = 3;
  config.time_budget_min = 1000;  // room for more than --epochs: capped there
  config.lr_schedule = "cosine";
  config.output_dir = dir_.Sub("out2");
  trainer = Trainer::Create(config);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  RecordingObserver second;
  result = (*trainer)->Run(&second, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->epochs_completed, 3);
  auto state = ReadResumePoint(result->last_checkpoint);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->state.planned_epochs, 3);
  for (const EpochMetrics& m : second.epochs) EXPECT_EQ(m.planned_epochs, 3);
  // Without a warmup the cosine starts at the peak and plans from epoch 2.
  EXPECT_DOUBLE_EQ(second.epochs[0].learning_rate, config.learning_rate);
  EXPECT_LT(second.epochs[2].learning_rate, second.epochs[1].learning_rate);
}

TEST_F(TrainerTest, SameSeedOneThreadGivesSameLosses) {
  TrainConfig config = Config();
  config.threads = 1;
  config.epochs = 2;
  std::vector<std::vector<double>> losses;
  for (int run = 0; run < 2; ++run) {
    config.output_dir = dir_.Sub("out" + std::to_string(run));
    auto trainer = Trainer::Create(config);
    ASSERT_TRUE(trainer.ok());
    RecordingObserver observer;
    ASSERT_TRUE((*trainer)->Run(&observer, nullptr).ok());
    losses.emplace_back();
    for (const auto& m : observer.epochs) {
      losses.back().push_back(m.train_loss);
      losses.back().push_back(m.valid_loss);
    }
  }
  EXPECT_EQ(losses[0], losses[1]);
}

// The moving average is what is validated and checkpointed for serving;
// the optimizer's path is the same with and without it, so the training
// losses of two one-thread runs of the same seed are equal and their
// validation losses are not.
TEST_F(TrainerTest, WeightAveragingChangesWhatIsValidatedNotHowItTrains) {
  TrainConfig config = Config();
  config.threads = 1;
  config.epochs = 3;
  std::vector<EpochMetrics> runs[2];
  std::string last;
  for (int averaged = 0; averaged < 2; ++averaged) {
    config.ema_decay = averaged ? 0.9 : 0.0;
    config.output_dir = dir_.Sub(averaged ? "averaged" : "plain");
    auto result = RunToEnd(config, runs[averaged]);
    ASSERT_TRUE(result.ok()) << result.status();
    last = result->last_checkpoint;
  }
  ASSERT_EQ(runs[0].size(), runs[1].size());
  for (size_t i = 0; i < runs[0].size(); ++i) {
    EXPECT_EQ(runs[0][i].train_loss, runs[1][i].train_loss) << "epoch " << i + 1;
    EXPECT_NE(runs[0][i].valid_loss, runs[1][i].valid_loss) << "epoch " << i + 1;
  }
  // last.ckpt serves the average and resumes from the trained weights.
  auto served = LoadCheckpoint(last, c10::Device(c10::kCPU));
  ASSERT_TRUE(served.ok()) << served.status();
  Vgg16 trained(VggOptions{2, config.width});
  torch::optim::Adam optimizer(trained->parameters());
  ASSERT_TRUE(LoadTrainingCheckpoint(last, trained, optimizer, c10::Device(c10::kCPU)).ok());
  trained->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({2, 3, 32, 32});
  EXPECT_FALSE(torch::allclose(served->model->forward(x), trained->forward(x)));

  config.ema_decay = 1.0;
  EXPECT_EQ(Trainer::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
}

// --best-by last makes every epoch's weights the best checkpoint in turn, so
// the run ends with best.ckpt holding the last epoch's; the training is the
// same run step for step.
TEST_F(TrainerTest, BestByLastKeepsTheLatestEpochNotTheHighestAccuracy) {
  TrainConfig config = Config();
  config.threads = 1;
  std::vector<EpochMetrics> runs[2];
  TrainingResult results[2];
  for (int last = 0; last < 2; ++last) {
    config.best_by = last ? "last" : "accuracy";
    config.output_dir = dir_.Sub(config.best_by);
    auto result = RunToEnd(config, runs[last]);
    ASSERT_TRUE(result.ok()) << result.status();
    results[last] = *result;
  }
  ASSERT_EQ(runs[0].size(), 5u);
  ASSERT_EQ(runs[1].size(), 5u);
  // The premise: by accuracy, some epoch after the first is not the best.
  ASSERT_TRUE(std::any_of(runs[0].begin() + 1, runs[0].end(), [](const EpochMetrics& m) { return !m.is_best; }));
  for (size_t i = 0; i < runs[1].size(); ++i) {
    EXPECT_EQ(runs[0][i].train_loss, runs[1][i].train_loss) << "epoch " << i + 1;
    EXPECT_TRUE(runs[1][i].is_best) << "epoch " << i + 1;
  }
  EXPECT_EQ(results[1].best_epoch, 5);
  EXPECT_EQ(results[1].best_valid_accuracy, runs[1].back().valid_accuracy);
  auto best = LoadCheckpoint(results[1].best_checkpoint, c10::Device(c10::kCPU));
  auto last = LoadCheckpoint(results[1].last_checkpoint, c10::Device(c10::kCPU));
  ASSERT_TRUE(best.ok()) << best.status();
  ASSERT_TRUE(last.ok()) << last.status();
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({2, 3, 32, 32});
  EXPECT_TRUE(torch::equal(best->model->forward(x), last->model->forward(x)));

  config.best_by = "loss";
  EXPECT_EQ(Trainer::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
}

// CutMix changes what each step trains on (half the batches, here), not what is
// validated: the run still learns the classes, on different training losses.
TEST_F(TrainerTest, CutMixTrainsOnMixedBatchesAndStillLearns) {
  TrainConfig config = Config();
  config.threads = 1;
  std::vector<EpochMetrics> runs[2];
  double best[2] = {0.0, 0.0};
  for (int mixed = 0; mixed < 2; ++mixed) {
    config.cutmix = mixed ? 0.5 : 0.0;
    config.output_dir = dir_.Sub(mixed ? "cutmix" : "plain");
    auto result = RunToEnd(config, runs[mixed]);
    ASSERT_TRUE(result.ok()) << result.status();
    best[mixed] = result->best_valid_accuracy;
  }
  ASSERT_EQ(runs[0].size(), runs[1].size());
  for (size_t i = 0; i < runs[0].size(); ++i) {
    EXPECT_NE(runs[0][i].train_loss, runs[1][i].train_loss) << "epoch " << i + 1;
  }
  EXPECT_GE(best[1], 0.9);

  for (const double bad : {-0.1, 1.5}) {
    config.cutmix = bad;
    EXPECT_EQ(Trainer::Create(config).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

// --eval-scale: validation, the test evaluation and the served model see
// larger images than training; the training itself is the same run.
TEST_F(TrainerTest, EvalScaleChangesWhatIsValidatedAndServedNotHowItTrains) {
  TrainConfig config = Config();
  config.threads = 1;
  config.epochs = 2;
  config.test_root = dir_.Sub("test");
  std::vector<EpochMetrics> runs[2];
  std::string best;
  for (int scaled = 0; scaled < 2; ++scaled) {
    config.eval_scale = scaled ? 1.5 : 1.0;
    config.output_dir = dir_.Sub(scaled ? "scaled" : "plain");
    auto trainer = Trainer::Create(config);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    RecordingObserver observer;
    auto result = (*trainer)->Run(&observer, nullptr);
    ASSERT_TRUE(result.ok()) << result.status();
    runs[scaled] = observer.epochs;
    best = result->best_checkpoint;
    ASSERT_TRUE(result->test_best.has_value());
    EXPECT_EQ(result->test_best->count, 20);
  }
  ASSERT_EQ(runs[0].size(), runs[1].size());
  for (size_t i = 0; i < runs[0].size(); ++i) {
    EXPECT_EQ(runs[0][i].train_loss, runs[1][i].train_loss) << "epoch " << i + 1;
    EXPECT_NE(runs[0][i].valid_loss, runs[1][i].valid_loss) << "epoch " << i + 1;
  }
  // The card tells serving the size; the config keeps the training size.
  auto card = ReadModelCard(best);
  ASSERT_TRUE(card.ok()) << card.status();
  EXPECT_EQ(card->preprocessing.image_size, 48);
  auto trained_as = TrainConfigFromJson(card->train_config_json);
  ASSERT_TRUE(trained_as.ok());
  EXPECT_EQ(trained_as->preprocessing.image_size, 32);
  // A resume continues it; one with another evaluation size is refused.
  config.resume = true;
  config.epochs = 3;
  auto resumed = Trainer::Create(config);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_TRUE((*resumed)->resumes_after().has_value());
  EXPECT_EQ((*resumed)->resumes_after()->epoch, 2);
  config.eval_scale = 1.25;
  EXPECT_EQ(Trainer::Create(config).status().code(), absl::StatusCode::kInvalidArgument);

  config.eval_scale = 3.0;
  EXPECT_EQ(Trainer::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TrainerTest, CancelStopsWithinOneBatchAndKeepsLastCheckpoint) {
  TrainConfig config = Config();
  auto trainer = Trainer::Create(config);
  ASSERT_TRUE(trainer.ok());
  StopToken stop;
  RecordingObserver observer;
  observer.stop = &stop;
  observer.stop_at_epoch = 2;
  observer.stop_at_batch = 3;
  auto result = (*trainer)->Run(&observer, &stop);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  ASSERT_EQ(observer.epochs.size(), 1u);
  EXPECT_EQ(observer.progress.back().epoch, 2);
  EXPECT_EQ(observer.progress.back().batches_done, 3);  // nothing after the stop
  auto loaded = LoadCheckpoint(Trainer::LastCheckpointPath(config), c10::Device(c10::kCPU));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->card.metrics.epoch, 1);
  for (const auto& entry : std::filesystem::directory_iterator(config.output_dir)) {
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
  }
}

TEST_F(TrainerTest, EarlyStoppingEndsTheRun) {
  TrainConfig config = Config();
  config.epochs = 30;
  config.early_stop_patience = 0;  // any epoch above the best loss stops
  config.learning_rate = 0.05;     // noisy enough that the loss goes up at some point
  auto trainer = Trainer::Create(config);
  ASSERT_TRUE(trainer.ok());
  RecordingObserver observer;
  auto result = (*trainer)->Run(&observer, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->early_stopped);
  EXPECT_LT(result->epochs_completed, 30);
  EXPECT_EQ(observer.epochs.back().early_stop_trigger, 1);
}

TEST_F(TrainerTest, RejectsBadConfigWithTheFieldName) {
  struct Case {
    std::function<void(TrainConfig&)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](TrainConfig& c) { c.batch_size = 1; }, "batch_size"},
      {[](TrainConfig& c) { c.epochs = 0; }, "epochs"},
      {[](TrainConfig& c) { c.learning_rate = -1; }, "learning_rate"},
      {[](TrainConfig& c) { c.valid_fraction = 1.0; }, "valid_fraction"},
      {[](TrainConfig& c) { c.preprocessing.image_size = 16; }, "image_size"},
      {[](TrainConfig& c) { c.width = 0; }, "width"},
      {[](TrainConfig& c) { c.arch = "resnet"; }, "arch"},
      {[](TrainConfig& c) { c.device = "tpu"; }, "device"},
      {[](TrainConfig& c) { c.augment.flip_probability = 2; }, "flip"},
      {[](TrainConfig& c) { c.output_dir = ""; }, "output_dir"},
      {[](TrainConfig& c) { c.precision = "int8"; }, "precision"},
      {[](TrainConfig& c) { c.workers = 0; }, "workers"},
      {[](TrainConfig& c) { c.workers = 3; }, "batch_size"},  // 8 images do not split into 3
      {[](TrainConfig& c) { c.workers = 8; }, "batch_size"},  // one image per rank: no batch norm
      {[](TrainConfig& c) { c.nproc_per_node = 0; }, "nproc_per_node"},
      {[](TrainConfig& c) { c.nproc_per_node = 3; }, "batch_size"},
      {[](TrainConfig& c) { c.workers = c.nproc_per_node = 2; }, "nproc_per_node"},  // threads or processes
  };
  for (const Case& c : cases) {
    TrainConfig config = Config();
    c.mutate(config);
    auto trainer = Trainer::Create(config);
    EXPECT_EQ(trainer.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(trainer.status().message().find(c.field), std::string::npos) << trainer.status();
  }
}

TEST_F(TrainerTest, Bf16AutocastTrainsOnCpuAndKeepsFp32Weights) {
  TrainConfig config = Config();
  config.precision = "bf16";
  auto trainer = Trainer::Create(config);
  ASSERT_TRUE(trainer.ok());
  RecordingObserver observer;
  auto result = (*trainer)->Run(&observer, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_FALSE(observer.epochs.empty());
  for (const auto& m : observer.epochs) {
    EXPECT_TRUE(std::isfinite(m.train_loss));
    EXPECT_TRUE(std::isfinite(m.valid_loss));
  }
  auto loaded = LoadCheckpoint(result->best_checkpoint, c10::Device(c10::kCPU));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  for (const auto& p : loaded->model->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat);
}

TEST_F(TrainerTest, Fp16OnCpuIsRefusedAtCreate) {
  TrainConfig config = Config();
  config.device = "cpu";
  config.precision = "fp16";
  EXPECT_EQ(Trainer::Create(config).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TrainerTest, DevicesThatDoNotExistAreRefusedAtCreate) {
  TrainConfig config = Config();
  for (const char* bad : {"cudax", "cuda:x", "cuda:1abc"}) {
    config.device = bad;
    EXPECT_EQ(Trainer::Create(config).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  config.device = "cuda:-1";
  EXPECT_EQ(Trainer::Create(config).status().code(), absl::StatusCode::kFailedPrecondition);
  config.device = "cuda:64";  // more GPUs than any host here has
  EXPECT_EQ(Trainer::Create(config).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TrainerTest, ClassOfUndecodableFilesIsRefusedAtCreate) {
  for (int i = 0; i < 3; ++i) {
    catdog::testing::WriteFile(dir_.Sub("junk/cat/" + std::to_string(i) + ".jpg"), "not a picture");
  }
  std::filesystem::create_directories(dir_.Sub("junk/dog"));
  std::filesystem::copy(dir_.Sub("data/dog"), dir_.Sub("junk/dog"), std::filesystem::copy_options::recursive);
  TrainConfig config = Config();
  config.dataset_root = dir_.Sub("junk");
  auto trainer = Trainer::Create(config);
  EXPECT_EQ(trainer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(trainer.status().message().find("class 'cat'"), std::string::npos) << trainer.status();

  config = Config();
  config.test_root = dir_.Sub("junk");  // the test set is checked too, not after training
  EXPECT_EQ(Trainer::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TrainerTest, MemoryEstimateGrowsWithTheConfigAndFlagsTheKiller) {
  TrainConfig config = Config();
  auto tiny = Trainer::Create(config);
  ASSERT_TRUE(tiny.ok());
  EXPECT_LT((*tiny)->estimated_peak_bytes(), int64_t{1} << 30);
  // The config that got catdogd OOM-killed on a 24 GiB machine.
  config.preprocessing.image_size = 1024;
  config.width = 1.0;
  config.batch_size = 64;
  auto huge = Trainer::Create(config);
  ASSERT_TRUE(huge.ok());
  EXPECT_GT((*huge)->estimated_peak_bytes(), int64_t{24} << 30);
  config.batch_size = 32;
  EXPECT_LT((*Trainer::Create(config))->estimated_peak_bytes(), (*huge)->estimated_peak_bytes());
  // Every worker holds the whole model and Adam's state.
  config.workers = 2;
  auto two = Trainer::Create(config);
  ASSERT_TRUE(two.ok()) << two.status();
  config.workers = 1;
  const int64_t one = (*Trainer::Create(config))->estimated_peak_bytes();
  EXPECT_GT((*two)->estimated_peak_bytes(), one);
  // The moving average is one more copy of the weights.
  config.ema_decay = 0.998;
  EXPECT_EQ((*Trainer::Create(config))->estimated_peak_bytes() - one, 4 * CountParameters(*Vgg16(VggOptions{2, 1.0})));
}

TEST_F(TrainerTest, RunGivesTheProcessItsThreadCountBack) {
  torch::set_num_threads(1);
  TrainConfig config = Config();
  config.threads = 2;
  config.epochs = 1;
  auto trainer = Trainer::Create(config);
  ASSERT_TRUE(trainer.ok());
  ASSERT_TRUE((*trainer)->Run(nullptr, nullptr).ok());
  EXPECT_EQ(torch::get_num_threads(), 1);
}

TEST_F(TrainerTest, WorkersTrainAsOneRunThatRank0Reports) {
  TrainConfig config = Config();
  config.workers = 2;
  config.threads = 2;  // one each
  config.epochs = 2;
  config.test_root = dir_.Sub("test");
  auto trainer = Trainer::Create(config);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  torch::set_num_threads(2);
  RecordingObserver observer;
  auto result = (*trainer)->Run(&observer, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(torch::get_num_threads(), 2);  // the caller's count is back
  // One report per epoch (rank 0's), over both ranks' images.
  ASSERT_EQ(observer.epochs.size(), 2u);
  const int64_t shard = static_cast<int64_t>(((*trainer)->train_size() + 1) / 2);
  EXPECT_EQ(observer.progress.back().batches_total, (shard + 3) / 4);  // 4 images a rank a step
  for (const auto& m : observer.epochs) EXPECT_TRUE(std::isfinite(m.train_loss)) << m.epoch;
  EXPECT_TRUE(std::filesystem::exists(result->best_checkpoint));
  EXPECT_TRUE(std::filesystem::exists(result->last_checkpoint));
  ASSERT_TRUE(result->test_best.has_value());
  EXPECT_EQ(result->test_best->count, 20);  // the whole test set, once
  // The checkpoint is an ordinary one: its config says how it was trained.
  auto loaded = LoadCheckpoint(result->last_checkpoint, c10::Device(c10::kCPU));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->card.metrics.epoch, 2);
}

// Rank 0 cannot write its first checkpoint (writes past RLIMIT_FSIZE fail
// as on a full disk): the other rank, waiting in the next collective, fails
// at once, and the run reports rank 0's own error, not a hang or "did
// another rank die". The same whether the ranks are threads or processes.
TEST_F(TrainerTest, RanksEndTogetherWithTheFailingRanksOwnError) {
  for (const bool processes : {false, true}) {
    SCOPED_TRACE(processes ? "processes" : "threads");
    TrainConfig config = Config();
    (processes ? config.nproc_per_node : config.workers) = 2;
    config.epochs = 3;
    config.output_dir = dir_.Sub(processes ? "processes" : "threads");
    auto trainer = Trainer::Create(config);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit previous{};
    getrlimit(RLIMIT_FSIZE, &previous);
    rlimit limit = previous;
    limit.rlim_cur = 16 << 10;  // far below a checkpoint of this model
    setrlimit(RLIMIT_FSIZE, &limit);
    RecordingObserver observer;
    auto result = (*trainer)->Run(&observer, nullptr);
    setrlimit(RLIMIT_FSIZE, &previous);
    std::signal(SIGXFSZ, previous_handler);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted) << result.status();
    EXPECT_NE(result.status().message().find("best.ckpt"), std::string::npos) << result.status();
    EXPECT_EQ(result.status().message().find("another rank"), std::string::npos) << result.status();
    EXPECT_TRUE(observer.epochs.empty());  // epoch 1 never completed
  }
  EXPECT_TRUE(ChildRankPids().empty());
}

TEST_F(TrainerTest, MissingDatasetIsNotFound) {
  TrainConfig config = Config();
  config.dataset_root = dir_.Sub("nope");
  EXPECT_EQ(Trainer::Create(config).status().code(), absl::StatusCode::kNotFound);
}


// What must be equal between a resumed and an uninterrupted run (not the
// timings). `loss_tolerance`: how far the training loss may be off, for
// ranks whose resumed epoch adds the same losses in another order.
void ExpectSameEpochs(const std::vector<EpochMetrics>& got, const std::vector<EpochMetrics>& want,
                      double loss_tolerance = 0.0) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "epoch " << want[i].epoch);
    EXPECT_EQ(got[i].epoch, want[i].epoch);
    if (loss_tolerance > 0.0) {
      EXPECT_NEAR(got[i].train_loss, want[i].train_loss, loss_tolerance);
    } else {
      EXPECT_EQ(got[i].train_loss, want[i].train_loss);
    }
    EXPECT_EQ(got[i].valid_loss, want[i].valid_loss);
    EXPECT_EQ(got[i].valid_accuracy, want[i].valid_accuracy);
    EXPECT_EQ(got[i].learning_rate, want[i].learning_rate);
    EXPECT_EQ(got[i].early_stop_trigger, want[i].early_stop_trigger);
    EXPECT_EQ(got[i].is_best, want[i].is_best);
  }
}

// Two ranks of one thread each: averaging while backward runs and after it
// give the same sums, so the same run, epoch for epoch.
TEST_F(TrainerTest, WorkersAverageWhileBackwardRunsAsAfterIt) {
  TrainConfig config = Config();
  config.workers = 2;
  config.threads = 2;
  config.epochs = 2;
  std::vector<EpochMetrics> runs[2];
  for (int after = 0; after < 2; ++after) {
    config.allreduce_after_backward = after == 1;
    config.output_dir = dir_.Sub(after ? "after" : "during");
    auto trainer = Trainer::Create(config);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    RecordingObserver observer;
    ASSERT_TRUE((*trainer)->Run(&observer, nullptr).ok());
    runs[after] = observer.epochs;
  }
  ExpectSameEpochs(runs[0], runs[1]);
}

// Ranks as processes train the run ranks as threads train, epoch for epoch
// (one thread a rank either way), reported once, with rank 1's log beside
// the checkpoints and no child left behind.
TEST_F(TrainerTest, ProcessesTrainTheRunThreadsTrain) {
  std::vector<std::vector<EpochMetrics>> runs;
  std::vector<TrainingResult> results;
  for (const bool processes : {false, true}) {
    TrainConfig config = Config();
    config.workers = processes ? 1 : 2;
    config.nproc_per_node = processes ? 2 : 1;
    config.threads = 2;
    config.epochs = 2;
    config.test_root = dir_.Sub("test");
    config.output_dir = dir_.Sub(processes ? "processes" : "threads");
    auto trainer = Trainer::Create(config);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    RecordingObserver observer;
    auto result = (*trainer)->Run(&observer, nullptr);
    ASSERT_TRUE(result.ok()) << result.status();
    runs.push_back(observer.epochs);
    results.push_back(*result);
    EXPECT_EQ(observer.tests.size(), 2u);  // rank 0 alone evaluates the test set
  }
  ExpectSameEpochs(runs[1], runs[0]);
  ASSERT_TRUE(results[1].test_best.has_value());
  EXPECT_EQ(results[1].test_best->count, 20);
  EXPECT_EQ(results[1].test_best->loss, results[0].test_best->loss);
  std::ifstream log(dir_.Sub("processes/rank-1.log"));
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("[rank 1]"), std::string::npos) << text;
  EXPECT_TRUE(ChildRankPids().empty());
}

// A rank killed mid-run (kill -9) fails rank 0 at its next collective, and
// the run's error names the rank and the signal, not only "a collective
// failed".
TEST_F(TrainerTest, ProcessesAKilledRankFailsTheRunNamingIt) {
  TrainConfig config = Config();
  config.nproc_per_node = 2;
  config.threads = 2;
  config.epochs = 1000;
  auto trainer = Trainer::Create(config);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  RecordingObserver observer;
  bool killed = false;
  observer.on_progress = [&](const Progress&) {
    if (killed) return;
    for (pid_t pid : ChildRankPids()) killed = kill(pid, SIGKILL) == 0 || killed;
  };
  auto result = (*trainer)->Run(&observer, nullptr);
  ASSERT_TRUE(killed);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted) << result.status();
  EXPECT_NE(result.status().message().find("rank 1"), std::string::npos) << result.status();
  EXPECT_NE(result.status().message().find("signal 9"), std::string::npos) << result.status();
  EXPECT_LT(observer.epochs.size(), 1000u);
  EXPECT_TRUE(ChildRankPids().empty());
}

// A rank that exits before it reaches the rendezvous fails the run as soon
// as rank 0 notices, with its exit status, instead of after the rendezvous
// timeout (ten minutes).
TEST_F(TrainerTest, ProcessesARankThatNeverArrivesFailsTheRunAtOnce) {
  TrainConfig config = Config();
  config.nproc_per_node = 2;
  auto trainer = Trainer::Create(config);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  SetRankProgram("/bin/false");
  auto result = (*trainer)->Run(nullptr, nullptr);
  SetRankProgram(CATDOG_TRAIN_BINARY);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted) << result.status();
  EXPECT_NE(result.status().message().find("rank 1"), std::string::npos) << result.status();
  EXPECT_NE(result.status().message().find("exited with status 1"), std::string::npos) << result.status();
}

class ResumeTest : public TrainerTest {
 protected:
  // One thread, so losses are bit-for-bit reproducible; a plateau patience
  // of 0 makes the schedule change the rate, so its state matters too.
  // With cosine_, AdamW under a warmup + cosine schedule instead.
  TrainConfig ResumeConfig(const std::string& out) const {
    TrainConfig c = Config();
    if (cosine_) {
      c.lr_schedule = "cosine";
      c.optimizer = "adamw";
      c.weight_decay = 0.05;
      c.warmup_epochs = 1.5;
    }
    c.ema_decay = ema_decay_;
    c.cutmix = cutmix_;
    c.threads = workers_;  // one thread a rank
    c.workers = processes_ ? 1 : workers_;
    c.nproc_per_node = processes_ ? workers_ : 1;
    c.epochs = 4;
    c.lr_patience = 0;
    c.early_stop_patience = 10;
    c.test_root = dir_.Sub("test");
    c.output_dir = dir_.Sub(out);
    return c;
  }

  // The uninterrupted run: epoch metrics and test results.
  void RunReference() {
    auto trainer = Trainer::Create(ResumeConfig("reference"));
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    RecordingObserver observer;
    auto result = (*trainer)->Run(&observer, nullptr);
    ASSERT_TRUE(result.ok()) << result.status();
    reference_ = observer.epochs;
    reference_result_ = *result;
    bool rate_changed = false;
    for (const auto& m : reference_) rate_changed |= m.learning_rate != reference_[0].learning_rate;
    ASSERT_TRUE(rate_changed) << "the schedule never moved; the test would not see its state";
  }

  // Runs `config` until progress reaches (epoch, batch), then stops it.
  std::vector<EpochMetrics> RunAndStopAt(const TrainConfig& config, int64_t epoch, int64_t batch) {
    auto trainer = Trainer::Create(config);
    EXPECT_TRUE(trainer.ok()) << trainer.status();
    if (!trainer.ok()) return {};
    StopToken stop;
    RecordingObserver observer;
    observer.stop = &stop;
    observer.stop_at_epoch = epoch;
    observer.stop_at_batch = batch;
    EXPECT_EQ((*trainer)->Run(&observer, &stop).status().code(), absl::StatusCode::kCancelled);
    return observer.epochs;
  }

  // Resumes `config`'s run to the end; checks it matches the reference.
  void ResumeAndCompare(TrainConfig config, int64_t expect_resumes_after, double loss_tolerance = 0.0) {
    config.resume = true;
    auto trainer = Trainer::Create(config);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    ASSERT_TRUE((*trainer)->resumes_after().has_value());
    EXPECT_EQ((*trainer)->resumes_after()->epoch, expect_resumes_after);
    EXPECT_EQ((*trainer)->resumes_after()->valid_loss, reference_[expect_resumes_after - 1].valid_loss);
    RecordingObserver observer;
    auto result = (*trainer)->Run(&observer, nullptr);
    ASSERT_TRUE(result.ok()) << result.status();
    ExpectSameEpochs(observer.epochs,
                     std::vector<EpochMetrics>(reference_.begin() + expect_resumes_after, reference_.end()),
                     loss_tolerance);
    EXPECT_EQ(result->epochs_completed, reference_result_.epochs_completed);
    EXPECT_EQ(result->best_epoch, reference_result_.best_epoch);
    EXPECT_EQ(result->best_valid_accuracy, reference_result_.best_valid_accuracy);
    ASSERT_TRUE(result->test_best && result->test_last);
    EXPECT_EQ(result->test_best->loss, reference_result_.test_best->loss);
    EXPECT_EQ(result->test_last->loss, reference_result_.test_last->loss);
    EXPECT_FALSE(std::filesystem::exists(Trainer::PartialCheckpointPath(config)));
  }

  std::vector<EpochMetrics> reference_;
  TrainingResult reference_result_;
  bool cosine_ = false;
  double ema_decay_ = 0.0;
  double cutmix_ = 0.0;
  int workers_ = 1;
  bool processes_ = false;  // the ranks are child processes (nproc_per_node)
};

TEST_F(ResumeTest, ResumeAfterAStopEqualsAnUninterruptedRun) {
  ASSERT_NO_FATAL_FAILURE(RunReference());
  const TrainConfig config = ResumeConfig("stopped");
  // Stopped inside epoch 3 without mid-epoch checkpoints: continues after
  // epoch 2, from last.ckpt.
  std::vector<EpochMetrics> before = RunAndStopAt(config, 3, 5);
  ExpectSameEpochs(before, std::vector<EpochMetrics>(reference_.begin(), reference_.begin() + 2));
  EXPECT_FALSE(std::filesystem::exists(Trainer::PartialCheckpointPath(config)));
  ResumeAndCompare(config, 2);
}

// Two ranks of one thread each are as reproducible as one process (a
// two-rank allreduce adds two numbers, in either order the same), so a
// stopped two-worker run resumes into the uninterrupted one exactly.
TEST_F(ResumeTest, WorkersResumeAfterAStopEqualsAnUninterruptedRun) {
  workers_ = 2;
  ASSERT_NO_FATAL_FAILURE(RunReference());
  const TrainConfig config = ResumeConfig("stopped");
  std::vector<EpochMetrics> before = RunAndStopAt(config, 3, 2);
  ExpectSameEpochs(before, std::vector<EpochMetrics>(reference_.begin(), reference_.begin() + 2));
  ResumeAndCompare(config, 2);
}

// The same with the ranks as processes: rank 1 a child catdog-train reading
// its config from a pipe, stopped by rank 0's broadcast decision.
TEST_F(ResumeTest, ProcessesResumeAfterAStopEqualsAnUninterruptedRun) {
  workers_ = 2;
  processes_ = true;
  ASSERT_NO_FATAL_FAILURE(RunReference());
  const TrainConfig config = ResumeConfig("stopped");
  std::vector<EpochMetrics> before = RunAndStopAt(config, 3, 2);
  ExpectSameEpochs(before, std::vector<EpochMetrics>(reference_.begin(), reference_.begin() + 2));
  ResumeAndCompare(config, 2);
}

// A two-worker run's mid-epoch checkpoint holds the whole group's loss sum
// and image count, and all ranks stop at the batch rank 0 saw the stop at,
// so the resumed epoch is the uninterrupted one (its loss summed in another
// order: equal to rounding).
TEST_F(ResumeTest, WorkersMidEpochCheckpointsResumeInsideTheEpoch) {
  workers_ = 2;
  ASSERT_NO_FATAL_FAILURE(RunReference());
  TrainConfig config = ResumeConfig("mid-epoch");
  config.checkpoint_interval_min = 1e-9;  // after every batch
  std::vector<EpochMetrics> before = RunAndStopAt(config, 2, 3);
  ExpectSameEpochs(before, std::vector<EpochMetrics>(reference_.begin(), reference_.begin() + 1));
  auto point = ReadResumePoint(Trainer::PartialCheckpointPath(config));
  ASSERT_TRUE(point.ok()) << point.status();
  EXPECT_EQ(point->state.epochs_completed, 1);
  EXPECT_EQ(point->state.batches_done, 3);
  EXPECT_EQ(point->state.partial_images, 3 * 8);  // both ranks' 4 images a batch
  ResumeAndCompare(config, 1, /*loss_tolerance=*/1e-12);
}

TEST_F(ResumeTest, MidEpochCheckpointsResumeInsideTheEpoch) {
  ASSERT_NO_FATAL_FAILURE(RunReference());
  TrainConfig config = ResumeConfig("mid-epoch");
  config.checkpoint_interval_min = 1e-9;  // after every batch
  // The periodic checkpoint is on disk while the epoch runs.
  auto trainer = Trainer::Create(config);
  ASSERT_TRUE(trainer.ok());
  StopToken stop;
  RecordingObserver observer;
  std::optional<TrainingState> seen;
  observer.on_progress = [&](const Progress& p) {
    if (p.epoch == 2 && p.batches_done == 4) {
      auto point = ReadResumePoint(Trainer::PartialCheckpointPath(config));
      ASSERT_TRUE(point.ok()) << point.status();
      seen = point->state;
      stop.RequestStop();
    }
  };
  ASSERT_EQ((*trainer)->Run(&observer, &stop).status().code(), absl::StatusCode::kCancelled);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->epochs_completed, 1);
  EXPECT_EQ(seen->batches_done, 3);  // saved after batch 3, before batch 4's report
  // The stop itself saved batch 4 too.
  auto at_stop = ReadResumePoint(Trainer::PartialCheckpointPath(config));
  ASSERT_TRUE(at_stop.ok()) << at_stop.status();
  EXPECT_EQ(at_stop->state.batches_done, 4);
  EXPECT_GT(at_stop->state.partial_images, 0);
  EXPECT_EQ(at_stop->card.kind, "partial");
  ResumeAndCompare(config, 1);
}

TEST_F(ResumeTest, CosineScheduleResumesMidEpochExactly) {
  cosine_ = true;
  ASSERT_NO_FATAL_FAILURE(RunReference());
  TrainConfig config = ResumeConfig("cosine");
  config.checkpoint_interval_min = 1e-9;
  RunAndStopAt(config, 2, 3);  // inside the warmup, which ends mid-epoch 2
  ResumeAndCompare(config, 1);
}

// The moving average and the trained weights both travel in the mid-epoch
// checkpoint: the resumed run validates (and tests) the same averages.
TEST_F(ResumeTest, WeightAverageResumesMidEpochExactly) {
  ema_decay_ = 0.9;
  ASSERT_NO_FATAL_FAILURE(RunReference());
  TrainConfig config = ResumeConfig("averaged");
  config.checkpoint_interval_min = 1e-9;
  RunAndStopAt(config, 2, 3);
  ResumeAndCompare(config, 1);
}

// CutMix's boxes come from a stream of (seed, epoch, batch, rank): a run
// resumed inside an epoch mixes the rest of it as the uninterrupted run did.
TEST_F(ResumeTest, CutMixResumesMidEpochExactly) {
  cosine_ = true;
  cutmix_ = 0.5;
  ASSERT_NO_FATAL_FAILURE(RunReference());
  TrainConfig config = ResumeConfig("cutmix");
  config.checkpoint_interval_min = 1e-9;
  RunAndStopAt(config, 2, 3);
  ResumeAndCompare(config, 1);
}

TEST_F(ResumeTest, WithoutCheckpointsResumeStartsAtEpochOne) {
  TrainConfig config = ResumeConfig("fresh");
  config.resume = true;
  config.epochs = 1;
  auto trainer = Trainer::Create(config);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  EXPECT_FALSE((*trainer)->resumes_after().has_value());
  RecordingObserver observer;
  ASSERT_TRUE((*trainer)->Run(&observer, nullptr).ok());
  ASSERT_EQ(observer.epochs.size(), 1u);
  EXPECT_EQ(observer.epochs[0].epoch, 1);
}

TEST_F(ResumeTest, DamagedOrForeignCheckpointsAreRefusedNotSilentlyRestarted) {
  TrainConfig config = ResumeConfig("damaged");
  config.epochs = 1;
  ASSERT_TRUE((*Trainer::Create(config))->Run(nullptr, nullptr).ok());
  config.resume = true;
  // A different width: the weights would not fit.
  TrainConfig wider = config;
  wider.width = 0.25;
  auto refused = Trainer::Create(wider);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("width"), std::string::npos) << refused.status();
  // A best checkpoint copied over last.ckpt holds no training state.
  std::filesystem::copy_file(Trainer::BestCheckpointPath(config), Trainer::LastCheckpointPath(config),
                             std::filesystem::copy_options::overwrite_existing);
  refused = Trainer::Create(config);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("no training state"), std::string::npos) << refused.status();
  // Garbage.
  std::ofstream(Trainer::LastCheckpointPath(config), std::ios::trunc) << "not a checkpoint";
  EXPECT_EQ(Trainer::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace catdog::common
