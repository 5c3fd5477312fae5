#include "server/proto_conversion.h"

#include <gtest/gtest.h>

namespace catdog::server {
namespace {

TEST(ProtoConversionTest, JobSpecRoundTripsEveryField) {
  JobSpec spec;
  common::TrainConfig& c = spec.config;
  c.dataset_root = "cats";
  c.test_root = "cats_test";
  c.preprocessing.image_size = 96;
  c.preprocessing.normalize = true;
  c.batch_size = 32;
  c.epochs = 9;
  c.learning_rate = 3e-4;
  c.weight_decay = 1e-5;
  c.valid_fraction = 0.25;
  c.split_seed = 7;
  c.seed = 8;
  c.augment = {0.5, 4, 10.0, 0.1};
  c.lr_patience = 2;
  c.lr_factor = 0.5;
  c.early_stop_patience = 3;
  c.width = 0.5;
  c.device = "cpu";
  c.threads = 3;
  c.progress_interval = 5;
  c.loader_workers = 4;
  c.cache_budget_mb = 100;
  c.precision = "bf16";
  spec.auto_promote = false;
  const JobSpec back = JobSpecFromProto(JobSpecToProto(spec));
  EXPECT_EQ(common::TrainConfigToJson(back.config), common::TrainConfigToJson(spec.config));
  EXPECT_FALSE(back.auto_promote);
}

TEST(ProtoConversionTest, UnsetFieldsTakeTheReferenceDefaults) {
  v1::TrainingConfig proto;
  proto.set_dataset("cats");
  const JobSpec spec = JobSpecFromProto(proto);
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

TEST(ProtoConversionTest, JobStatesMapBothWays) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                     JobState::kCancelled, JobState::kInterrupted}) {
    auto back = JobStateFromProto(JobStateToProto(s));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, s);
  }
  EXPECT_FALSE(JobStateFromProto(v1::JOB_STATE_UNSPECIFIED).ok());
}

TEST(ProtoConversionTest, EvalMetricsCarryPerClassAndConfusion) {
  TestEvaluation t;
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
}  // namespace catdog::server
