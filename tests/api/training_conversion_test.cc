#include "api/training_conversion.h"

#include <gtest/gtest.h>

namespace catdog::api {
namespace {

TEST(TrainingConversionTest, UnsetFieldsTakeTheReferenceDefaults) {
  v1::TrainingConfig proto;
  proto.set_dataset("cats");
  const absl::StatusOr<common::JobSpec> parsed = JobSpecFromProto(proto);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const common::JobSpec& spec = *parsed;
  const common::TrainConfig defaults;
  EXPECT_EQ(spec.config.preprocessing.image_size, 224);
  EXPECT_EQ(spec.config.batch_size, 16);
  EXPECT_EQ(spec.config.epochs, 55);
  EXPECT_DOUBLE_EQ(spec.config.learning_rate, 1e-4);
  EXPECT_DOUBLE_EQ(spec.config.augment.flip_probability, 0.3);
  EXPECT_EQ(spec.config.early_stop_patience, defaults.early_stop_patience);
  EXPECT_EQ(spec.config.precision, "fp32");
  EXPECT_TRUE(spec.auto_promote);
}

TEST(TrainingConversionTest, JobStatesMapBothWays) {
  for (common::JobState s : {common::JobState::kQueued, common::JobState::kRunning, common::JobState::kSucceeded, common::JobState::kFailed,
                     common::JobState::kCancelled, common::JobState::kInterrupted}) {
    auto back = JobStateFromProto(JobStateToProto(s));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, s);
  }
  EXPECT_FALSE(JobStateFromProto(v1::JOB_STATE_UNSPECIFIED).ok());
}

TEST(TrainingConversionTest, TheJobCarriesItsNewestEpochsPlan) {
  common::JobInfo job;
  job.spec.config.epochs = 100;
  EXPECT_EQ(JobInfoToProto(job).planned_epochs(), 0);  // no epoch yet
  common::EpochMetrics m;
  m.epoch = 1;
  m.planned_epochs = 46;
  job.last_epoch = m;
  EXPECT_EQ(JobInfoToProto(job).planned_epochs(), 46);
  EXPECT_EQ(EpochMetricsToProto(m).planned_epochs(), 46);
}

TEST(TrainingConversionTest, EpochsCarryTheirTimings) {
  common::EpochMetrics m;
  m.epoch = 3;
  m.seconds = 12.5;
  m.train_images_per_second = 128.0;
  m.data_wait_seconds = 4.25;
  const v1::EpochMetrics p = EpochMetricsToProto(m);
  EXPECT_EQ(p.seconds(), 12.5);
  EXPECT_EQ(p.train_images_per_second(), 128.0);
  EXPECT_EQ(p.data_wait_seconds(), 4.25);
}

TEST(TrainingConversionTest, EvalMetricsCarryPerClassAndConfusion) {
  common::TestEvaluation t;
  t.kind = "best";
  t.metrics.count = 10;
  t.metrics.confusion = {{4, 1}, {2, 3}};
  common::FinishEvalMetrics(t.metrics);
  const v1::EvalMetrics p = EvalMetricsToProto(t, {"cat", "dog"});
  EXPECT_DOUBLE_EQ(p.accuracy(), 0.7);
  ASSERT_EQ(p.per_class_size(), 2);
  EXPECT_EQ(p.per_class(1).name(), "dog");
  EXPECT_DOUBLE_EQ(p.per_class(0).recall(), 0.8);
  EXPECT_DOUBLE_EQ(p.per_class(0).precision(), 4.0 / 6.0);
  EXPECT_EQ(p.confusion_size(), 4);
  EXPECT_EQ(p.confusion(2), 2);
}

}  // namespace
}  // namespace catdog::api
