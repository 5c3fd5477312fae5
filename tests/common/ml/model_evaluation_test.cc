#include "common/ml/model_evaluation.h"

#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/data/image_folder.h"
#include "common/data/image_io.h"
#include "common/ml/trainer.h"
#include "tests/support/test_data.h"

namespace catdog::common {
namespace {

using catdog::testing::TempDir;

class ModelEvaluationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    catdog::testing::WriteSyntheticDataset(dir_.Sub("train"), 40, 32);
    catdog::testing::WriteSyntheticDataset(dir_.Sub("test"), 11, 32, /*seed=*/5);
    // Two dogs filed as cats: mistakes however well the model does.
    for (int i = 0; i < 2; ++i) {
      catdog::testing::WriteFile(dir_.Sub("test/cat/filed_wrong_" + std::to_string(i) + ".png"),
                                 catdog::testing::EncodePng(catdog::testing::SyntheticImage(1, 32, 900 + i)));
    }
    TrainConfig config = catdog::testing::TinyTrainConfig(dir_.Sub("train"), dir_.Sub("out"));
    auto trainer = Trainer::Create(config);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    auto result = (*trainer)->Run(nullptr, nullptr);
    ASSERT_TRUE(result.ok()) << result.status();
    auto classifier = Classifier::Load(result->best_checkpoint);
    ASSERT_TRUE(classifier.ok()) << classifier.status();
    classifier_ = *std::move(classifier);
  }

  TempDir dir_;
  std::unique_ptr<Classifier> classifier_;
};

TEST_F(ModelEvaluationTest, FiguresAgreeWithThePredictionsOneByOne) {
  EvaluationOptions options;
  options.batch_size = 5;  // batches of unequal size
  options.max_mistakes = 3;
  std::vector<std::pair<int64_t, int64_t>> progress;
  auto report = EvaluateOnFolder(*classifier_, dir_.Sub("test"), options,
                                 [&](int64_t done, int64_t total) { progress.emplace_back(done, total); });
  ASSERT_TRUE(report.ok()) << report.status();

  // The same images, one Predict each.
  auto folder = ScanImageFolder(dir_.Sub("test"));
  ASSERT_TRUE(folder.ok());
  int64_t correct = 0, wrong = 0;
  double loss = 0;
  std::vector<float> wrong_confidences;
  for (const Sample& s : folder->samples) {
    auto image = classifier_->Preprocess(*ReadFileBytes(s.path));
    ASSERT_TRUE(image.ok());
    const Prediction p = (*classifier_->Predict({*image}))[0];
    loss -= std::log(p.probabilities[static_cast<size_t>(s.label)]);
    if (p.class_index == s.label) {
      ++correct;
    } else {
      ++wrong;
      wrong_confidences.push_back(p.probabilities[static_cast<size_t>(p.class_index)]);
    }
  }
  EXPECT_EQ(report->metrics.count, 24);
  EXPECT_NEAR(report->metrics.accuracy, static_cast<double>(correct) / 24, 1e-9);
  EXPECT_NEAR(report->metrics.loss, loss / 24, 1e-4);
  EXPECT_EQ(report->metrics.confusion[0][1] + report->metrics.confusion[1][0], wrong);
  ASSERT_EQ(report->mistakes.size(), std::min<size_t>(3, static_cast<size_t>(wrong)));
  std::sort(wrong_confidences.rbegin(), wrong_confidences.rend());
  for (size_t i = 0; i < report->mistakes.size(); ++i) {
    const Mistake& m = report->mistakes[i];
    EXPECT_NEAR(m.confidence, wrong_confidences[i], 1e-5);  // most confident first
    EXPECT_NE(m.true_class, m.predicted_class);
    EXPECT_TRUE(std::filesystem::exists(dir_.Sub("test/" + m.path))) << m.path;
    auto thumbnail = DecodeImage(m.thumbnail_jpeg);
    ASSERT_TRUE(thumbnail.ok());
    EXPECT_EQ(thumbnail->rows, 128);
  }
  ASSERT_EQ(progress.size(), 5u);  // 24 images in batches of 5
  EXPECT_EQ(progress.back(), std::make_pair(int64_t{24}, int64_t{24}));
}

TEST_F(ModelEvaluationTest, BadFilesAreSkippedUnknownClassesAndStopsRefused) {
  catdog::testing::WriteFile(dir_.Sub("test/cat/broken.png"), "not a png");
  auto report = EvaluateOnFolder(*classifier_, dir_.Sub("test"), {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->skipped, 1);
  EXPECT_EQ(report->metrics.count, 24);

  std::filesystem::create_directories(dir_.Sub("test/fox"));
  std::filesystem::copy(dir_.Sub("test/cat/broken.png"), dir_.Sub("test/fox/a.png"));
  const absl::Status unknown = EvaluateOnFolder(*classifier_, dir_.Sub("test"), {}).status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.message().find("'fox'"), std::string::npos) << unknown;
  std::filesystem::remove_all(dir_.Sub("test/fox"));

  StopToken stop;
  stop.RequestStop();
  EXPECT_EQ(EvaluateOnFolder(*classifier_, dir_.Sub("test"), {}, nullptr, &stop).status().code(),
            absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace catdog::common
