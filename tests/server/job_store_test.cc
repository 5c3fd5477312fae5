#include "server/job_store.h"

#include <gtest/gtest.h>

#include "tests/support/test_data.h"

namespace catdog::server {
namespace {

JobInfo SampleJob(const std::string& id) {
  JobInfo job;
  job.id = id;
  job.state = JobState::kSucceeded;
  job.spec.config.dataset_root = "/data/cats";
  job.spec.config.epochs = 7;
  job.spec.auto_promote = false;
  job.created_unix_ms = 1000;
  job.started_unix_ms = 2000;
  job.finished_unix_ms = 3000;
  job.epochs_completed = 7;
  job.best_epoch = 5;
  job.best_valid_accuracy = 0.9;
  job.class_names = {"cat", "dog"};
  job.train_images = 80;
  job.valid_images = 20;
  common::EvalMetrics eval;
  eval.count = 10;
  eval.accuracy = 0.8;
  eval.confusion = {{4, 1}, {1, 4}};
  job.test.push_back({"best", eval});
  return job;
}

TEST(JobStoreTest, PersistsJobsEpochsCheckpointsAndServingAcrossReopen) {
  catdog::testing::TempDir dir;
  const std::string path = dir.Sub("state/catdog.db");
  {
    auto store = JobStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->SaveJob(SampleJob("job-1")).ok());
    JobInfo second = SampleJob("job-2");
    second.state = JobState::kRunning;
    second.created_unix_ms = 5000;
    second.test.clear();
    ASSERT_TRUE((*store)->SaveJob(second).ok());
    for (int e = 1; e <= 3; ++e) {
      common::EpochMetrics m;
      m.epoch = e;
      m.valid_accuracy = 0.5 + 0.1 * e;
      m.is_best = e == 3;
      ASSERT_TRUE((*store)->AppendEpoch("job-1", m).ok());
    }
    common::EpochMetrics best;
    best.epoch = 3;
    best.valid_accuracy = 0.8;
    ASSERT_TRUE((*store)->SaveCheckpoint({"job-1", "best", "/s/best.ckpt", best, std::nullopt}).ok());
    ASSERT_TRUE((*store)->SaveJob(SampleJob("job-1")).ok());  // sets test accuracy on best
    ASSERT_TRUE((*store)->SetServingModel({"job-1/best", "/s/best.ckpt"}).ok());
  }
  auto store = JobStore::Open(path);
  ASSERT_TRUE(store.ok());
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 2u);
  const JobInfo& j = (*jobs)[0];
  EXPECT_EQ(j.id, "job-1");
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(j.spec.config.epochs, 7);
  EXPECT_FALSE(j.spec.auto_promote);
  EXPECT_EQ(j.class_names, (std::vector<std::string>{"cat", "dog"}));
  ASSERT_EQ(j.test.size(), 1u);
  EXPECT_EQ(j.test[0].metrics.confusion, (std::vector<std::vector<int64_t>>{{4, 1}, {1, 4}}));
  EXPECT_EQ((*jobs)[1].state, JobState::kRunning);

  auto epochs = (*store)->LoadEpochs("job-1");
  ASSERT_TRUE(epochs.ok());
  ASSERT_EQ(epochs->size(), 3u);
  EXPECT_EQ((*epochs)[2].epoch, 3);
  EXPECT_TRUE((*epochs)[2].is_best);
  EXPECT_DOUBLE_EQ((*epochs)[0].valid_accuracy, 0.6);

  auto checkpoints = (*store)->LoadCheckpoints("job-1");
  ASSERT_TRUE(checkpoints.ok());
  ASSERT_EQ(checkpoints->size(), 1u);
  EXPECT_EQ((*checkpoints)[0].path, "/s/best.ckpt");
  ASSERT_TRUE((*checkpoints)[0].test_accuracy.has_value());
  EXPECT_DOUBLE_EQ(*(*checkpoints)[0].test_accuracy, 0.8);
  EXPECT_TRUE((*store)->LoadCheckpoints("job-2")->empty());

  auto serving = (*store)->LoadServingModel();
  ASSERT_TRUE(serving.ok());
  ASSERT_TRUE(serving->has_value());
  EXPECT_EQ((*serving)->model_id, "job-1/best");
}

TEST(JobStoreTest, UnwritableLocationIsAnError) {
  EXPECT_FALSE(JobStore::Open("/proc/catdog/nope.db").ok());
}

}  // namespace
}  // namespace catdog::server
