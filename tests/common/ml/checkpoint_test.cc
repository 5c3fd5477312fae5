#include "common/ml/checkpoint.h"

#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/support/test_data.h"

namespace catdog::common {
namespace {

using catdog::testing::TempDir;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(5);
    model_ = Vgg16(VggOptions{3, 0.125});
    // Train one step so BatchNorm running stats and Adam state are non-trivial.
    optimizer_ = std::make_unique<torch::optim::Adam>(model_->parameters(), torch::optim::AdamOptions(1e-3));
    model_->train();
    auto loss = torch::nn::functional::cross_entropy(model_->forward(torch::rand({4, 3, 32, 32})),
                                                     torch::tensor({0, 1, 2, 1}));
    loss.backward();
    optimizer_->step();
    model_->eval();
    card_.width = 0.125;
    card_.class_names = {"cat", "dog", "fox"};
    card_.preprocessing.image_size = 32;
    card_.kind = "best";
    card_.metrics.epoch = 4;
    card_.metrics.valid_accuracy = 0.875;
    card_.train_config_json = "{\"epochs\":4}";
    card_.created_at = "2026-11-28T00:00:00Z";
    path_ = dir_.Sub("ckpt/best.ckpt");
  }

  TempDir dir_;
  Vgg16 model_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
  ModelCard card_;
  std::string path_;
};

TEST_F(CheckpointTest, RoundTripGivesIdenticalOutputsAndCard) {
  ASSERT_TRUE(SaveCheckpoint(path_, card_, model_, optimizer_.get()).ok());
  auto loaded = LoadCheckpoint(path_, c10::Device(c10::kCPU));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->card.class_names, card_.class_names);
  EXPECT_EQ(loaded->card.metrics.epoch, 4);
  EXPECT_DOUBLE_EQ(loaded->card.metrics.valid_accuracy, 0.875);
  EXPECT_EQ(loaded->card.train_config_json, card_.train_config_json);
  EXPECT_EQ(loaded->card.format_version, ModelCard::kFormatVersion);
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({5, 3, 40, 40});
  EXPECT_TRUE(torch::equal(model_->forward(x), loaded->model->forward(x)));
}

// With a moving average of the weights, the file serves the average and
// resumes both: the trained weights into the model, the average into its own.
TEST_F(CheckpointTest, AveragedCheckpointServesTheAverageAndResumesBoth) {
  torch::manual_seed(6);
  Vgg16 average(VggOptions{3, 0.125});
  average->eval();
  TrainingState state;
  state.epochs_completed = 4;
  ASSERT_TRUE(SaveCheckpoint(path_, card_, average, optimizer_.get(), &state, &model_).ok());
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({2, 3, 32, 32});
  auto served = LoadCheckpoint(path_, c10::Device(c10::kCPU));
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_TRUE(torch::equal(served->model->forward(x), average->forward(x)));

  auto fresh = [] {
    Vgg16 m(VggOptions{3, 0.125});
    m->eval();
    return m;
  };
  Vgg16 model = fresh(), model_average = fresh();
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  ASSERT_TRUE(LoadTrainingCheckpoint(path_, model, optimizer, c10::Device(c10::kCPU), &model_average).ok());
  EXPECT_TRUE(torch::equal(model->forward(x), model_->forward(x)));
  EXPECT_TRUE(torch::equal(model_average->forward(x), average->forward(x)));
  // Resumed without averaging: the trained weights, not the average.
  Vgg16 plain = fresh();
  torch::optim::Adam plain_optimizer(plain->parameters(), torch::optim::AdamOptions(1e-3));
  ASSERT_TRUE(LoadTrainingCheckpoint(path_, plain, plain_optimizer, c10::Device(c10::kCPU)).ok());
  EXPECT_TRUE(torch::equal(plain->forward(x), model_->forward(x)));
  // A file written without an average starts the average at the weights.
  ASSERT_TRUE(SaveCheckpoint(path_, card_, model_, optimizer_.get(), &state).ok());
  Vgg16 started = fresh();
  ASSERT_TRUE(LoadTrainingCheckpoint(path_, model, optimizer, c10::Device(c10::kCPU), &started).ok());
  EXPECT_TRUE(torch::equal(started->forward(x), model_->forward(x)));
}

// A full disk, as the process sees it: writes past RLIMIT_FSIZE fail with
// EFBIG (SIGXFSZ ignored), the way they fail with ENOSPC on a full disk.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    previous_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &previous_);
    rlimit limit = previous_;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &previous_);
    std::signal(SIGXFSZ, previous_handler_);
  }

 private:
  rlimit previous_{};
  void (*previous_handler_)(int) = nullptr;
};

TEST_F(CheckpointTest, FullDiskFailsTheWriteAndKeepsThePreviousCheckpoint) {
  ASSERT_TRUE(SaveCheckpoint(path_, card_, model_, nullptr).ok());
  const auto size = std::filesystem::file_size(path_);
  absl::Status full;
  {
    FileSizeLimit limit(size / 4);
    full = SaveCheckpoint(path_, card_, model_, optimizer_.get());  // the process survives
  }
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.Sub("ckpt"))) {
    ++files;
    EXPECT_EQ(e.path(), path_) << "a temporary file was left behind";
  }
  EXPECT_EQ(files, 1);
  EXPECT_EQ(std::filesystem::file_size(path_), size);
  EXPECT_TRUE(LoadCheckpoint(path_, c10::Device(c10::kCPU)).ok());
}

TEST_F(CheckpointTest, BitRotInTheWeightsIsDataLoss) {
  ASSERT_TRUE(SaveCheckpoint(path_, card_, model_, nullptr).ok());
  // Find one weight tensor's bytes in the file and flip 256 of them; the zip
  // structure and the card stay intact.
  std::string file;
  {
    std::ifstream in(path_, std::ios::binary);
    file.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const at::Tensor weight = model_->named_parameters()["conv_block5.0.weight"].detach().cpu();
  const std::string needle(static_cast<const char*>(weight.data_ptr()), 64);
  const size_t at = file.find(needle);
  ASSERT_NE(at, std::string::npos);
  for (size_t i = at; i < at + 256; ++i) file[i] = static_cast<char>(file[i] ^ 0xFF);
  std::ofstream(path_, std::ios::binary | std::ios::trunc) << file;

  EXPECT_TRUE(ReadModelCard(path_).ok());
  auto loaded = LoadCheckpoint(path_, c10::Device(c10::kCPU));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss) << loaded.status();
  Vgg16 other(VggOptions{3, 0.125});
  EXPECT_EQ(LoadWeightsInto(path_, other).code(), absl::StatusCode::kDataLoss);
}

TEST_F(CheckpointTest, LeavesNoTemporaryFiles) {
  ASSERT_TRUE(SaveCheckpoint(path_, card_, model_, nullptr).ok());
  ASSERT_TRUE(SaveCheckpoint(path_, card_, model_, nullptr).ok());  // overwrite
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.Sub("ckpt"))) {
    ++files;
    EXPECT_EQ(e.path(), path_);
  }
  EXPECT_EQ(files, 1);
}

TEST_F(CheckpointTest, ReadModelCardAlone) {
  ASSERT_TRUE(SaveCheckpoint(path_, card_, model_, nullptr).ok());
  auto card = ReadModelCard(path_);
  ASSERT_TRUE(card.ok()) << card.status();
  EXPECT_EQ(card->kind, "best");
}

TEST_F(CheckpointTest, MissingFileIsNotFound) {
  EXPECT_EQ(LoadCheckpoint(dir_.Sub("none.ckpt"), c10::Device(c10::kCPU)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(CheckpointTest, TruncatedFileIsInvalidArgument) {
  ASSERT_TRUE(SaveCheckpoint(path_, card_, model_, nullptr).ok());
  const auto size = std::filesystem::file_size(path_);
  std::filesystem::resize_file(path_, size / 2);
  auto loaded = LoadCheckpoint(path_, c10::Device(c10::kCPU));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(loaded.status().message().find("corrupt or truncated"), std::string::npos)
      << loaded.status();
}

TEST_F(CheckpointTest, GarbageFileIsInvalidArgument) {
  catdog::testing::WriteFile(path_, std::string(4096, 'x'));
  EXPECT_EQ(LoadCheckpoint(path_, c10::Device(c10::kCPU)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CheckpointTest, CorruptedBytesAreInvalidArgument) {
  ASSERT_TRUE(SaveCheckpoint(path_, card_, model_, nullptr).ok());
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    f.write("XXXXXXXX", 8);  // destroy the zip header
  }
  EXPECT_EQ(LoadCheckpoint(path_, c10::Device(c10::kCPU)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CheckpointTest, CardThatDisagreesWithWeightsIsInvalidArgument) {
  card_.width = 0.25;  // weights are width 0.125
  ASSERT_TRUE(SaveCheckpoint(path_, card_, model_, nullptr).ok());
  auto loaded = LoadCheckpoint(path_, c10::Device(c10::kCPU));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(loaded.status().message().find("do not match"), std::string::npos) << loaded.status();
}

TEST_F(CheckpointTest, WrongClassCountIsInvalidArgument) {
  card_.class_names = {"cat", "dog"};  // model has three outputs
  ASSERT_TRUE(SaveCheckpoint(path_, card_, model_, nullptr).ok());
  EXPECT_EQ(LoadCheckpoint(path_, c10::Device(c10::kCPU)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CheckpointTest, FutureFormatVersionIsFailedPrecondition) {
  card_.format_version = 99;
  ASSERT_TRUE(SaveCheckpoint(path_, card_, model_, nullptr).ok());
  auto loaded = LoadCheckpoint(path_, c10::Device(c10::kCPU));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(loaded.status().message().find("version 99"), std::string::npos);
}

}  // namespace
}  // namespace catdog::common
