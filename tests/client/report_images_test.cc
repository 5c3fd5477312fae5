#include "client/report_images.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/render.h"
#include "common/data/image_io.h"
#include "tests/support/test_data.h"

namespace catdog::client {
namespace {

v1::EvaluationReport Report(int mistakes) {
  v1::EvaluationReport r;
  r.set_model_id("job-1/best");
  r.set_dataset("test");
  v1::EvalMetrics* m = r.mutable_metrics();
  m->set_count(10);
  m->set_accuracy(0.7);
  for (const char* name : {"cat", "dog"}) {
    v1::ClassMetrics* c = m->add_per_class();
    c->set_name(name);
    c->set_precision(0.75);
    c->set_recall(0.6);
    c->set_f1(2 * 0.75 * 0.6 / 1.35);
  }
  for (int64_t v : {3, 2, 1, 4}) m->add_confusion(v);
  for (int i = 0; i < mistakes; ++i) {
    v1::Mistake* x = r.add_mistakes();
    x->set_path("cat/" + std::to_string(i) + ".jpg");
    x->set_true_class("cat");
    x->set_predicted_class("dog");
    x->set_confidence(0.9 - 0.1 * i);
    x->set_thumbnail(*common::EncodeImage(catdog::testing::SyntheticImage(0, 64, i), ".jpg"));
  }
  return r;
}

TEST(EvaluationTextTest, ShowsPerClassFiguresSupportTheConfusionMatrixAndMistakes) {
  const std::string text = EvaluationText(Report(2));
  EXPECT_NE(text.find("job-1/best on test: 10 images"), std::string::npos) << text;
  EXPECT_NE(text.find("cat               0.7500    0.6000    0.6667        5"), std::string::npos) << text;
  EXPECT_THAT(text, ::testing::ContainsRegex("\ndog +1 +4\n"));  // the confusion matrix's second row
  EXPECT_NE(text.find("0.9000     cat          dog          cat/0.jpg"), std::string::npos) << text;
}

TEST(ReportImagesTest, MistakesGridHasATilePerMistake) {
  catdog::testing::TempDir dir;
  ASSERT_TRUE(WriteMistakesGrid(Report(3), dir.Sub("m.png")).ok());
  auto grid = common::ReadImageFile(dir.Sub("m.png"));
  ASSERT_TRUE(grid.ok());
  EXPECT_EQ(grid->cols, 3 * 160);
  EXPECT_EQ(grid->rows, 160);
  EXPECT_EQ(WriteMistakesGrid(Report(0), dir.Sub("none.png")).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ReportImagesTest, CurvesNeedAnEpochAndDrawOne) {
  catdog::testing::TempDir dir;
  v1::Job job;
  job.set_id("job-7");
  EXPECT_EQ(WriteCurves(job, dir.Sub("c.png")).code(), absl::StatusCode::kFailedPrecondition);
  for (int e = 1; e <= 3; ++e) {
    v1::EpochMetrics* m = job.add_history();
    m->set_epoch(e);
    m->set_train_loss(0.7 - 0.1 * e);
    m->set_valid_loss(0.75 - 0.1 * e);
    m->set_valid_accuracy(0.5 + 0.1 * e);
  }
  job.set_best_epoch(3);
  v1::EvalMetrics* test = job.add_test();
  test->set_checkpoint_kind("best");
  test->set_accuracy(0.77);
  ASSERT_TRUE(WriteCurves(job, dir.Sub("c.png")).ok());
  auto image = common::ReadImageFile(dir.Sub("c.png"));
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->cols, 1000);
  EXPECT_EQ(image->rows, 440);
}

}  // namespace
}  // namespace catdog::client
