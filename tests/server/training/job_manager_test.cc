// The job manager with a fake training run: no model, no LibTorch. The fake
// reports the epochs it is told to, or waits for the test, so every state
// change is driven by conditions, not time.
#include "server/training/job_manager.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/data/scheduling.h"
#include "tests/support/test_data.h"

namespace catdog::server {
namespace {

struct Script {
  int epochs = 2;
  absl::Status fail;                      // returned instead of a result when set
  absl::Notification* hold = nullptr;     // when set, Run waits for it first
  absl::Notification* started = nullptr;  // notified when Run begins
  int resume_after = 0;  // a resumed run's checkpoint epoch
  absl::StatusOr<int>* nice = nullptr;  // set to the nice value Run ran at
};

class FakeRun final : public common::TrainingRun {
 public:
  FakeRun(const common::TrainConfig& config, Script script) : config_(config), script_(script) {}
  const std::vector<std::string>& class_names() const override { return names_; }
  size_t train_size() const override { return 8; }
  size_t valid_size() const override { return 2; }
  int64_t estimated_peak_bytes() const override { return int64_t{config_.batch_size} << 30; }  // 1 GiB an image
  std::optional<common::EpochMetrics> resumes_after() const override {
    if (!config_.resume || script_.resume_after == 0) return std::nullopt;
    common::EpochMetrics m;
    m.epoch = script_.resume_after;
    m.valid_accuracy = 0.25;  // marks rows that came from the checkpoint's card
    return m;
  }

  absl::StatusOr<common::TrainingResult> Run(common::TrainingObserver* observer,
                                             const common::StopToken* stop) override {
    if (script_.started != nullptr) script_.started->Notify();
    if (script_.nice != nullptr) *script_.nice = common::ThreadNice();
    if (script_.hold != nullptr) script_.hold->WaitForNotification();
    if (stop != nullptr && stop->stop_requested()) return absl::CancelledError("stopped");
    if (!script_.fail.ok()) return script_.fail;
    common::TrainingResult result;
    result.best_checkpoint = config_.output_dir + "/best.ckpt";
    for (int e = config_.resume ? script_.resume_after + 1 : 1; e <= script_.epochs; ++e) {
      if (stop != nullptr && stop->stop_requested()) return absl::CancelledError("stopped");
      common::EpochMetrics m;
      m.epoch = e;
      m.valid_accuracy = 0.5 + 0.1 * e;
      m.is_best = true;
      m.planned_epochs = script_.epochs;
      if (!config_.output_dir.empty()) {
        std::filesystem::create_directories(config_.output_dir);
        std::ofstream(result.best_checkpoint) << "weights";
      }
      observer->OnCheckpoint(common::CheckpointKind::kBest, result.best_checkpoint, m);
      observer->OnEpochEnd(m);
      result.epochs_completed = e;
      result.best_valid_accuracy = m.valid_accuracy;
    }
    return result;
  }

 private:
  const common::TrainConfig config_;
  const Script script_;
  const std::vector<std::string> names_ = {"cat", "dog"};
};

class JobManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.Sub("data/pets"));
    std::filesystem::create_directories(dir_.Sub("outside"));
    auto store = JobStore::Open(dir_.Sub("state/catdog.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  void StartManager(int64_t max_job_memory_bytes = 0, int keep_checkpoints = 0,
                    std::optional<int> job_nice = std::nullopt) {
    JobManagerOptions options;
    options.data_root = dir_.Sub("data");
    options.state_dir = dir_.Sub("state");
    options.max_job_memory_bytes = max_job_memory_bytes;
    options.keep_checkpoints = keep_checkpoints;
    options.job_nice = job_nice;
    JobManagerDeps deps;
    deps.store = store_.get();
    deps.hub = &hub_;
    deps.make_run = [this](const common::TrainConfig& config)
        -> absl::StatusOr<std::unique_ptr<common::TrainingRun>> {
      if (config.epochs > 1000) return absl::InvalidArgumentError("epochs: too many");
      if (in_make_run_ != nullptr) {  // a start that is still indexing its dataset
        in_make_run_->Notify();
        release_make_run_->WaitForNotification();
      }
      absl::MutexLock lock(&mu_);
      run_configs_.push_back(config);
      return std::make_unique<FakeRun>(config, script_);
    };
    deps.is_serving = [this](const std::string& job_id) {
      absl::MutexLock lock(&mu_);
      return job_id == serving_job_;
    };
    deps.promote = [this](const api::ModelId& id, double valid_accuracy) -> absl::StatusOr<std::string> {
      promoted_.push_back(id.ToString());
      return absl::StrCat("promoted at ", valid_accuracy);
    };
    auto manager = JobManager::Create(options, std::move(deps));
    ASSERT_TRUE(manager.ok()) << manager.status();
    jobs_ = *std::move(manager);
  }

  static common::JobSpec Spec() {
    common::JobSpec spec;
    spec.config.dataset_root = "pets";
    return spec;
  }

  // Waits until the job's event log closes (the job ended).
  common::JobInfo WaitForEnd(const std::string& id) {
    absl::Notification ended;
    const int64_t handle = hub_.Subscribe(id, [&] {
      if (hub_.Poll(id, 0).closed && !ended.HasBeenNotified()) ended.Notify();
    });
    if (hub_.Poll(id, 0).closed && !ended.HasBeenNotified()) ended.Notify();
    ended.WaitForNotification();
    hub_.Unsubscribe(id, handle);
    return *jobs_->Get(id);
  }

  catdog::testing::TempDir dir_;
  std::unique_ptr<JobStore> store_;
  EventHub hub_;
  Script script_;
  std::vector<std::string> promoted_;  // written by the worker, read after WaitForEnd
  absl::Mutex mu_;
  std::vector<common::TrainConfig> run_configs_ ABSL_GUARDED_BY(mu_);  // what make_run was given
  std::string serving_job_ ABSL_GUARDED_BY(mu_);
  absl::Notification* in_make_run_ = nullptr;  // set before the start it holds
  absl::Notification* release_make_run_ = nullptr;
  std::unique_ptr<JobManager> jobs_;
};

TEST_F(JobManagerTest, RunsAJobToSucceededRecordsItAndPromotesItsBestCheckpoint) {
  StartManager();
  auto job = jobs_->Start(Spec());
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state, common::JobState::kQueued);
  EXPECT_EQ(job->class_names, (std::vector<std::string>{"cat", "dog"}));
  // The job shows the path relative to the data root; its run reads the
  // resolved one, confined to the data root.
  EXPECT_EQ(job->spec.config.dataset_root, "pets");
  {
    absl::MutexLock lock(&mu_);
    ASSERT_EQ(run_configs_.size(), 1u);
    EXPECT_EQ(run_configs_[0].dataset_root, std::filesystem::canonical(dir_.Sub("data/pets")).string());
    EXPECT_EQ(run_configs_[0].confine_root, std::filesystem::canonical(dir_.Sub("data")).string());
  }
  const common::JobInfo done = WaitForEnd(job->id);
  EXPECT_EQ(done.state, common::JobState::kSucceeded);
  EXPECT_EQ(done.epochs_completed, 2);
  EXPECT_EQ(promoted_, (std::vector<std::string>{job->id + "/best"}));
  EXPECT_EQ(done.promotion, "promoted at 0.7");  // the best epoch's accuracy
  EXPECT_EQ((*store_->LoadJobs())[0].promotion, done.promotion);
  EXPECT_EQ(store_->LoadEpochs(job->id)->size(), 2u);
  auto checkpoints = jobs_->ListCheckpoints(job->id);
  ASSERT_TRUE(checkpoints.ok());
  EXPECT_EQ(checkpoints->size(), 1u);
  std::vector<std::string> kinds;
  for (const common::JobEvent& e : hub_.Poll(job->id, 0).events) {
    if (const auto* s = std::get_if<common::StateChange>(&e.payload)) kinds.push_back(common::JobStateName(s->state));
    if (std::holds_alternative<common::EpochMetrics>(e.payload)) kinds.push_back("epoch");
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"QUEUED", "RUNNING", "epoch", "epoch", "SUCCEEDED"}));
}

TEST_F(JobManagerTest, JobsRunAtTheirOwnNiceValueNotTheServingThreadsOne) {
  absl::StatusOr<int> job_nice;
  script_.nice = &job_nice;
  const int start = common::ThreadNice().value();
  if (start > 14) GTEST_SKIP() << "the test already runs at nice " << start;
  // catdogd sets serving's nice value before it starts any thread; a thread
  // of the test's own stands in for its main thread. Both values are above
  // the start, so no privilege is needed.
  absl::Status serving;
  std::thread([&] {
    serving = common::SetThreadNice(start + 2);
    StartManager(0, 0, /*job_nice=*/start + 5);
  }).join();
  ASSERT_TRUE(serving.ok()) << serving;
  auto job = jobs_->Start(Spec());
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(WaitForEnd(job->id).state, common::JobState::kSucceeded);
  EXPECT_EQ(job_nice.value(), start + 5);
}

TEST_F(JobManagerTest, FailedRunIsFailedWithItsMessageAndNotPromoted) {
  script_.fail = absl::AbortedError("loss is NaN");
  StartManager();
  auto job = jobs_->Start(Spec());
  ASSERT_TRUE(job.ok());
  const common::JobInfo done = WaitForEnd(job->id);
  EXPECT_EQ(done.state, common::JobState::kFailed);
  EXPECT_EQ(done.error, "loss is NaN");
  EXPECT_TRUE(promoted_.empty());
}

TEST_F(JobManagerTest, CancelStopsTheRunningJobAndDropsTheQueuedOne) {
  absl::Notification hold, started;
  script_.hold = &hold;
  script_.started = &started;
  StartManager();
  auto running = jobs_->Start(Spec());
  auto queued = jobs_->Start(Spec());
  ASSERT_TRUE(running.ok() && queued.ok());
  started.WaitForNotification();
  auto cancelled = jobs_->Cancel(queued->id);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state, common::JobState::kCancelled);
  ASSERT_TRUE(jobs_->Cancel(running->id).ok());
  hold.Notify();
  EXPECT_EQ(WaitForEnd(running->id).state, common::JobState::kCancelled);
  EXPECT_EQ(jobs_->Cancel(running->id).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(jobs_->Cancel("job-99").status().code(), absl::StatusCode::kNotFound);
  const absl::Status huge = jobs_->Get(std::string(100000, 'j')).status();
  EXPECT_EQ(huge.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(huge.message().size(), 200u) << "the id is not echoed";
}

TEST_F(JobManagerTest, ResumeContinuesAFailedJobAfterItsCheckpoint) {
  script_.fail = absl::ResourceExhaustedError("disk full");
  StartManager();
  auto job = jobs_->Start(Spec());
  ASSERT_TRUE(job.ok());
  ASSERT_EQ(WaitForEnd(job->id).state, common::JobState::kFailed);
  // The store holds epochs 1-3; the checkpoint is from epoch 2.
  for (int e = 1; e <= 3; ++e) {
    common::EpochMetrics m;
    m.epoch = e;
    ASSERT_TRUE(store_->AppendEpoch(job->id, m, {}).ok());
  }
  script_ = Script{};
  script_.epochs = 4;
  script_.resume_after = 2;
  auto resumed = jobs_->Resume(job->id);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->state, common::JobState::kQueued);
  EXPECT_EQ(resumed->epochs_completed, 2);
  EXPECT_TRUE(resumed->error.empty());
  EXPECT_TRUE(resumed->spec.config.resume);
  const common::JobInfo done = WaitForEnd(job->id);
  EXPECT_EQ(done.state, common::JobState::kSucceeded);
  EXPECT_EQ(done.epochs_completed, 4);
  const std::vector<common::EpochMetrics> rows = *store_->LoadEpochs(job->id);
  std::vector<int64_t> epochs;
  for (const auto& m : rows) epochs.push_back(m.epoch);
  EXPECT_EQ(epochs, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(rows[2].valid_accuracy, 0.8) << "epoch 3 was trained again";
  std::vector<std::string> states;
  for (const common::JobEvent& e : hub_.Poll(job->id, 0).events) {
    if (const auto* s = std::get_if<common::StateChange>(&e.payload)) states.push_back(common::JobStateName(s->state));
  }
  EXPECT_EQ(states, (std::vector<std::string>{"QUEUED", "RUNNING", "FAILED", "QUEUED", "RUNNING", "SUCCEEDED"}));
  EXPECT_EQ(jobs_->Resume(job->id).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(jobs_->Resume("job-99").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(JobManagerTest, ResumeRecordsTheCheckpointEpochTheStoreMissed) {
  absl::Notification hold, started;
  script_.hold = &hold;
  script_.started = &started;
  StartManager();
  auto job = jobs_->Start(Spec());
  ASSERT_TRUE(job.ok());
  started.WaitForNotification();
  ASSERT_TRUE(jobs_->Cancel(job->id).ok());
  hold.Notify();
  ASSERT_EQ(WaitForEnd(job->id).state, common::JobState::kCancelled);
  // A crash after last.ckpt (epoch 1) was written but before its row was.
  script_ = Script{};
  script_.epochs = 2;
  script_.resume_after = 1;
  ASSERT_TRUE(jobs_->Resume(job->id).ok());
  EXPECT_EQ(WaitForEnd(job->id).state, common::JobState::kSucceeded);
  auto epochs = *store_->LoadEpochs(job->id);
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_EQ(epochs[0].valid_accuracy, 0.25) << "epoch 1 comes from the checkpoint's card";
  // A restart re-queues a queued resumed job as a resume.
  EXPECT_TRUE((*store_->LoadJobs())[0].spec.config.resume);
}

TEST_F(JobManagerTest, BadRequestsFailBeforeAnythingIsQueued) {
  StartManager();
  common::JobSpec spec = Spec();
  spec.config.epochs = 5000;
  EXPECT_EQ(jobs_->Start(spec).status().code(), absl::StatusCode::kInvalidArgument);
  spec = Spec();
  spec.config.dataset_root = "";
  EXPECT_EQ(jobs_->Start(spec).status().code(), absl::StatusCode::kInvalidArgument);
  spec.config.dataset_root = "../outside";
  EXPECT_EQ(jobs_->Start(spec).status().code(), absl::StatusCode::kPermissionDenied);
  spec.config.dataset_root = "missing";
  EXPECT_EQ(jobs_->Start(spec).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(jobs_->List({}).empty());
  EXPECT_EQ(jobs_->ListCheckpoints("job-1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(JobManagerTest, ConfigThatWouldNotFitTheMemoryBudgetIsRefused) {
  StartManager(/*max_job_memory_bytes=*/int64_t{20} << 30);
  common::JobSpec spec = Spec();
  spec.config.batch_size = 64;  // the fake needs 64 GiB
  const absl::Status refused = jobs_->Start(spec).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("--max-job-memory-gb"), std::string::npos) << refused;
  EXPECT_TRUE(jobs_->List({}).empty());
  spec.config.batch_size = 16;  // 16 GiB fits
  auto job = jobs_->Start(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  WaitForEnd(job->id);
}

TEST_F(JobManagerTest, StateDirReplacedUnderARunningJobFailsIt) {
  absl::Notification hold, started;
  script_.hold = &hold;
  script_.started = &started;
  script_.epochs = 3;
  StartManager();
  auto job = jobs_->Start(Spec());
  ASSERT_TRUE(job.ok());
  started.WaitForNotification();
  std::filesystem::rename(dir_.Sub("state"), dir_.Sub("state.moved"));
  std::filesystem::create_directories(dir_.Sub("state"));  // someone else's now
  hold.Notify();
  const common::JobInfo done = WaitForEnd(job->id);
  EXPECT_EQ(done.state, common::JobState::kFailed);
  EXPECT_NE(done.error.find("was removed or replaced"), std::string::npos) << done.error;
  EXPECT_EQ(done.epochs_completed, 0);
}

TEST_F(JobManagerTest, NewJobsNeverReuseAnExistingJobFolder) {
  // A lost catdog.db: the store starts empty, job-1's files are still there.
  std::filesystem::create_directories(dir_.Sub("state/jobs/job-1"));
  std::filesystem::create_directories(dir_.Sub("state/tensorboard/job-2"));
  StartManager();
  auto job = jobs_->Start(Spec());
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->id, "job-3");
  WaitForEnd(job->id);
}

TEST_F(JobManagerTest, StaleTemporaryCheckpointFilesAreRemovedAtStart) {
  std::filesystem::create_directories(dir_.Sub("state/jobs/job-1"));
  std::ofstream(dir_.Sub("state/jobs/job-1/best.ckpt.tmp.4242")) << "half a checkpoint";
  std::ofstream(dir_.Sub("state/jobs/job-1/best.ckpt")) << "a whole one";
  StartManager();
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("state/jobs/job-1/best.ckpt.tmp.4242")));
  EXPECT_TRUE(std::filesystem::exists(dir_.Sub("state/jobs/job-1/best.ckpt")));
}

TEST_F(JobManagerTest, RestartInterruptsRunningJobsRequeuesQueuedOnesAndContinuesNumbering) {
  common::JobInfo running;
  running.id = "job-1";
  running.state = common::JobState::kRunning;
  running.spec = Spec();
  running.started_unix_ms = 1;
  common::JobInfo queued = running;
  queued.id = "job-2";
  queued.state = common::JobState::kQueued;
  queued.started_unix_ms = 0;
  ASSERT_TRUE(store_->SaveJob(running).ok());
  ASSERT_TRUE(store_->SaveJob(queued).ok());

  StartManager();
  EXPECT_EQ(jobs_->Get("job-1")->state, common::JobState::kInterrupted);
  EXPECT_EQ(WaitForEnd("job-2").state, common::JobState::kSucceeded);
  auto next = jobs_->Start(Spec());
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->id, "job-3");
  WaitForEnd(next->id);
}

TEST_F(JobManagerTest, RefusedStartsDoNotUseUpJobNumbers) {
  StartManager();
  common::JobSpec missing = Spec();
  missing.config.dataset_root = "missing";
  EXPECT_FALSE(jobs_->Start(missing).ok());
  common::JobSpec bad = Spec();
  bad.config.epochs = 5000;
  EXPECT_FALSE(jobs_->Start(bad).ok());
  auto job = jobs_->Start(Spec());
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->id, "job-1");
  WaitForEnd(job->id);
}

TEST_F(JobManagerTest, RecordsTheOwnerAndKeepsItAcrossARestart) {
  StartManager();
  auto job = jobs_->Start(Spec(), Submitter{"alice"});
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->owner, "alice");
  WaitForEnd(job->id);
  jobs_.reset();
  StartManager();
  EXPECT_EQ(jobs_->Get(job->id)->owner, "alice");
}

TEST_F(JobManagerTest, KeepsTheNewestEpochsPlanAcrossARestart) {
  StartManager();
  auto job = jobs_->Start(Spec(), Submitter{});
  ASSERT_TRUE(job.ok()) << job.status();
  WaitForEnd(job->id);
  ASSERT_TRUE(jobs_->Get(job->id)->last_epoch.has_value());
  const int64_t planned = jobs_->Get(job->id)->last_epoch->planned_epochs;
  EXPECT_GT(planned, 0);
  jobs_.reset();
  StartManager();
  const auto after = jobs_->Get(job->id);
  ASSERT_TRUE(after->last_epoch.has_value());
  EXPECT_EQ(after->last_epoch->planned_epochs, planned);
}

TEST_F(JobManagerTest, ActiveJobsQuotaIsPerSubmitter) {
  StartManager();
  absl::Notification release;
  script_.hold = &release;
  const Submitter alice{"alice", /*max_active_jobs=*/1};
  auto first = jobs_->Start(Spec(), alice);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = jobs_->Start(Spec(), alice);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted) << second.status();
  EXPECT_TRUE(jobs_->Start(Spec(), Submitter{"bob", 1}).ok());  // bob's own quota
  release.Notify();
  WaitForEnd(first->id);
  EXPECT_TRUE(jobs_->Start(Spec(), alice).ok());  // alice's first job ended
}

// Two starts at once cannot both take the last slot, however long the
// first one takes to index its dataset.
TEST_F(JobManagerTest, ActiveJobsQuotaHoldsForStartsInProgress) {
  StartManager();
  absl::Notification in_make_run, release;
  in_make_run_ = &in_make_run;
  release_make_run_ = &release;
  const Submitter alice{"alice", /*max_active_jobs=*/1};
  absl::StatusOr<common::JobInfo> first;
  std::thread starting([&] { first = jobs_->Start(Spec(), alice); });
  in_make_run.WaitForNotification();
  in_make_run_ = nullptr;
  EXPECT_EQ(jobs_->Start(Spec(), alice).status().code(), absl::StatusCode::kResourceExhausted);
  release.Notify();
  starting.join();
  ASSERT_TRUE(first.ok()) << first.status();
  WaitForEnd(first->id);
}

TEST_F(JobManagerTest, CheckpointBytesQuotaCountsTheSubmittersJobFiles) {
  StartManager();
  const Submitter alice{"alice", 0, /*max_checkpoint_bytes=*/1 << 20};
  auto job = jobs_->Start(Spec(), alice);
  ASSERT_TRUE(job.ok()) << job.status();
  WaitForEnd(job->id);
  std::ofstream(dir_.Sub("state/jobs/" + job->id + "/big.ckpt")) << std::string(2 << 20, 'x');
  auto refused = jobs_->Start(Spec(), alice);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_NE(std::string(refused.status().message()).find("catdogctl delete"), std::string::npos);
  EXPECT_TRUE(jobs_->Start(Spec(), Submitter{"bob", 0, 1 << 20}).ok());
}

TEST_F(JobManagerTest, DeleteRemovesAFinishedJobsFilesAndRecordAndNeverReusesItsId) {
  StartManager();
  auto job = jobs_->Start(Spec());
  ASSERT_TRUE(job.ok()) << job.status();
  WaitForEnd(job->id);
  ASSERT_TRUE(std::filesystem::exists(dir_.Sub("state/jobs/job-1/best.ckpt")));
  std::filesystem::create_directories(dir_.Sub("state/tensorboard/job-1"));
  ASSERT_TRUE(jobs_->Delete("job-1").ok());
  EXPECT_EQ(jobs_->Get("job-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("state/jobs/job-1/best.ckpt")));
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("state/tensorboard/job-1")));
  EXPECT_TRUE(store_->LoadCheckpoints("job-1")->empty());
  EXPECT_TRUE(store_->LoadEpochs("job-1")->empty());
  EXPECT_EQ(jobs_->Delete("job-1").code(), absl::StatusCode::kNotFound);
  jobs_.reset();
  StartManager();  // the store no longer knows job-1; its folder keeps the id taken
  auto next = jobs_->Start(Spec());
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->id, "job-2");
}

TEST_F(JobManagerTest, DeleteRefusesARunningOrServedJob) {
  StartManager();
  absl::Notification release, started;
  script_.hold = &release;
  script_.started = &started;
  auto job = jobs_->Start(Spec());
  ASSERT_TRUE(job.ok()) << job.status();
  started.WaitForNotification();
  EXPECT_EQ(jobs_->Delete(job->id).code(), absl::StatusCode::kFailedPrecondition);
  release.Notify();
  WaitForEnd(job->id);
  {
    absl::MutexLock lock(&mu_);
    serving_job_ = job->id;
  }
  const absl::Status served = jobs_->Delete(job->id);
  EXPECT_EQ(served.code(), absl::StatusCode::kFailedPrecondition) << served;
  EXPECT_TRUE(std::filesystem::exists(dir_.Sub("state/jobs/" + job->id + "/best.ckpt")));
}

TEST_F(JobManagerTest, RetentionKeepsTheNewestFinishedJobsCheckpointsAndAServedOnes) {
  StartManager(/*max_job_memory_bytes=*/0, /*keep_checkpoints=*/1);
  {
    absl::MutexLock lock(&mu_);
    serving_job_ = "job-1";
  }
  for (int i = 0; i < 3; ++i) {
    auto job = jobs_->Start(Spec());
    ASSERT_TRUE(job.ok()) << job.status();
    WaitForEnd(job->id);
  }
  EXPECT_TRUE(std::filesystem::exists(dir_.Sub("state/jobs/job-1/best.ckpt")));  // served
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("state/jobs/job-2/best.ckpt")));
  EXPECT_TRUE(store_->LoadCheckpoints("job-2")->empty());
  EXPECT_TRUE(std::filesystem::exists(dir_.Sub("state/jobs/job-3/best.ckpt")));  // the newest
  EXPECT_EQ(jobs_->Get("job-2")->state, common::JobState::kSucceeded);  // the record stays
}

}  // namespace
}  // namespace catdog::server
