#include "common/ml/trainer.h"

#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/data/model_card.h"
#include "common/ml/checkpoint.h"
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
  StopToken* stop = nullptr;
  int64_t stop_at_epoch = -1;
  int64_t stop_at_batch = -1;
};

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    catdog::testing::WriteSyntheticDataset(dir_.Sub("data"), 40, 32);
    catdog::testing::WriteSyntheticDataset(dir_.Sub("test"), 10, 32, /*seed=*/7);
  }
  TrainConfig Config() const { return TinyTrainConfig(dir_.Sub("data"), dir_.Sub("out")); }

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

  bool has_events = false;
  for (const auto& e : std::filesystem::directory_iterator(dir_.Sub("tb/run1")))
    has_events |= e.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  EXPECT_TRUE(has_events);
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

TEST_F(TrainerTest, MissingDatasetIsNotFound) {
  TrainConfig config = Config();
  config.dataset_root = dir_.Sub("nope");
  EXPECT_EQ(Trainer::Create(config).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace catdog::common
