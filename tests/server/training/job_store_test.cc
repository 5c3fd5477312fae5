#include "server/training/job_store.h"

#include <sqlite3.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/support/test_data.h"

namespace catdog::server {
namespace {

common::JobInfo SampleJob(const std::string& id) {
  common::JobInfo job;
  job.id = id;
  job.state = common::JobState::kSucceeded;
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
    common::JobInfo second = SampleJob("job-2");
    second.state = common::JobState::kRunning;
    second.created_unix_ms = 5000;
    second.test.clear();
    ASSERT_TRUE((*store)->SaveJob(second).ok());
    for (int e = 1; e <= 3; ++e) {
      common::EpochMetrics m;
      m.epoch = e;
      m.valid_accuracy = 0.5 + 0.1 * e;
      m.is_best = e == 3;
      m.planned_epochs = 9;
      std::vector<common::CheckpointInfo> checkpoints;
      if (m.is_best) checkpoints.push_back({"job-1", "best", "/s/best.ckpt", m, std::nullopt});
      ASSERT_TRUE((*store)->AppendEpoch("job-1", m, checkpoints).ok());
    }
    ASSERT_TRUE((*store)->SaveJob(SampleJob("job-1")).ok());  // sets test accuracy on best
    ASSERT_TRUE((*store)->RecordPromotion({"job-1/last", "/s/last.ckpt"}).ok());
    ASSERT_TRUE((*store)->RecordPromotion({"job-1/best", "/s/best.ckpt"}).ok());
    ASSERT_TRUE((*store)->RecordPromotion({"job-1/last", "/s/last.ckpt"}).ok());
    ASSERT_TRUE((*store)->RecordPromotion({"job-1/best", "/s/best.ckpt"}).ok());
  }
  auto store = JobStore::Open(path);
  ASSERT_TRUE(store.ok());
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 2u);
  const common::JobInfo& j = (*jobs)[0];
  EXPECT_EQ(j.id, "job-1");
  EXPECT_EQ(j.state, common::JobState::kSucceeded);
  EXPECT_EQ(j.spec.config.epochs, 7);
  EXPECT_FALSE(j.spec.auto_promote);
  EXPECT_EQ(j.class_names, (std::vector<std::string>{"cat", "dog"}));
  ASSERT_EQ(j.test.size(), 1u);
  EXPECT_EQ(j.test[0].metrics.confusion, (std::vector<std::vector<int64_t>>{{4, 1}, {1, 4}}));
  EXPECT_EQ((*jobs)[1].state, common::JobState::kRunning);

  auto epochs = (*store)->LoadEpochs("job-1");
  ASSERT_TRUE(epochs.ok());
  ASSERT_EQ(epochs->size(), 3u);
  EXPECT_EQ((*epochs)[2].epoch, 3);
  EXPECT_TRUE((*epochs)[2].is_best);
  EXPECT_EQ((*epochs)[2].planned_epochs, 9);
  EXPECT_DOUBLE_EQ((*epochs)[0].valid_accuracy, 0.6);

  auto checkpoints = (*store)->LoadCheckpoints("job-1");
  ASSERT_TRUE(checkpoints.ok());
  ASSERT_EQ(checkpoints->size(), 1u);
  EXPECT_EQ((*checkpoints)[0].path, "/s/best.ckpt");
  ASSERT_TRUE((*checkpoints)[0].test_accuracy.has_value());
  EXPECT_DOUBLE_EQ(*(*checkpoints)[0].test_accuracy, 0.8);  // from SampleJob's test evaluation
  EXPECT_EQ((*checkpoints)[0].metrics.epoch, 3);
  EXPECT_TRUE((*store)->LoadCheckpoints("job-2")->empty());

  auto promotions = (*store)->LoadPromotions();  // newest first, each model once
  ASSERT_TRUE(promotions.ok()) << promotions.status();
  ASSERT_EQ(promotions->size(), 2u);
  EXPECT_EQ((*promotions)[0].model_id, "job-1/best");
  EXPECT_EQ((*promotions)[1].model_id, "job-1/last");
  EXPECT_EQ((*promotions)[1].path, "/s/last.ckpt");
}

// Runs `sql` on a database of its own, outside the store.
void ExecRaw(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error != nullptr ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

int64_t UserVersion(const std::string& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
  const int64_t version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return version;
}

// testdata/catdog_schema0.sql: a catdog.db written by catdogd before the
// schema had versions (1d1387a: one 2-epoch job, its checkpoints, serving).
TEST(JobStoreTest, MigratesADatabaseWrittenBeforeVersioning) {
  catdog::testing::TempDir dir;
  const std::string path = dir.Sub("catdog.db");
  std::ifstream file(std::string(CATDOG_TESTDATA_DIR) + "/catdog_schema0.sql");
  ASSERT_TRUE(file.good());
  std::stringstream sql;
  sql << file.rdbuf();
  ExecRaw(path, sql.str());
  ASSERT_EQ(UserVersion(path), 0);

  for (int open = 0; open < 2; ++open) {  // the second open finds nothing to do
    auto store = JobStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(UserVersion(path), JobStore::kSchemaVersion);
    auto jobs = (*store)->LoadJobs();
    ASSERT_TRUE(jobs.ok()) << jobs.status();
    ASSERT_EQ(jobs->size(), 1u);
    const common::JobInfo& job = (*jobs)[0];
    EXPECT_EQ(job.id, "job-1");
    EXPECT_EQ(job.state, common::JobState::kSucceeded);
    EXPECT_EQ(job.class_names, (std::vector<std::string>{"cat", "dog"}));
    EXPECT_EQ(job.spec.config.preprocessing.image_size, 32);
    EXPECT_EQ(job.train_images, 19);
    EXPECT_EQ((*store)->LoadEpochs("job-1")->size(), 2u);
    EXPECT_EQ((*store)->LoadCheckpoints("job-1")->size(), 2u);
    auto best = (*store)->CheckpointPath("job-1", "best");
    ASSERT_TRUE(best.ok()) << best.status();
    EXPECT_EQ(*best, "/tmp/fix/state/jobs/job-1/best.ckpt");
    auto promotions = (*store)->LoadPromotions();
    ASSERT_TRUE(promotions.ok()) << promotions.status();
    ASSERT_EQ(promotions->size(), 1u);
    EXPECT_EQ((*promotions)[0].model_id, "job-1/best");
  }
}

TEST(JobStoreTest, RefusesADatabaseFromANewerVersion) {
  catdog::testing::TempDir dir;
  const std::string path = dir.Sub("catdog.db");
  ExecRaw(path, "PRAGMA user_version=99;");
  auto store = JobStore::Open(path);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("newer catdogd"), std::string::npos) << store.status();
}

TEST(JobStoreTest, ClassNamesKeepAnyCharacter) {
  catdog::testing::TempDir dir;
  const std::string path = dir.Sub("catdog.db");
  common::JobInfo job = SampleJob("job-1");
  job.class_names = {"a\nb", "c,d", "\"quoted\""};
  {
    auto store = JobStore::Open(path);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->SaveJob(job).ok());
  }
  auto store = JobStore::Open(path);
  ASSERT_TRUE(store.ok());
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_EQ((*jobs)[0].class_names, job.class_names);
}

TEST(JobStoreTest, MissingCheckpointIsNotFound) {
  catdog::testing::TempDir dir;
  auto store = JobStore::Open(dir.Sub("catdog.db"));
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->CheckpointPath("job-1", "best").status().code(), absl::StatusCode::kNotFound);
}

TEST(JobStoreTest, UnwritableLocationIsAnError) {
  EXPECT_FALSE(JobStore::Open("/proc/catdog/nope.db").ok());
}

}  // namespace
}  // namespace catdog::server
