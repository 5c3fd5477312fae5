#include "server/training/job_manager.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/data/log_format.h"
#include "common/data/scheduling.h"
#include "common/data/status_macros.h"
#include "server/training/data_root.h"

namespace catdog::server {
namespace {

constexpr const char* kJobPrefix = "job-";

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

absl::StatusOr<struct stat> Stat(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  return st;
}

// Fills the server-side parts of a job's config: dataset paths normalised
// relative to the data root (checked, not yet resolved: see RunConfig),
// output folders and the thread default.
absl::Status ResolveSpec(const JobManagerOptions& options, const std::string& id, common::JobSpec& spec) {
  common::TrainConfig& c = spec.config;
  if (c.dataset_root.empty()) {
    return absl::InvalidArgumentError("config.dataset is required (a folder under the server's --data-root)");
  }
  CATDOG_ASSIGN_OR_RETURN(const DatasetPath dataset, ResolveDatasetPath(options.data_root, c.dataset_root));
  c.dataset_root = dataset.relative;
  if (!c.test_root.empty()) {
    CATDOG_ASSIGN_OR_RETURN(const DatasetPath test, ResolveDatasetPath(options.data_root, c.test_root));
    c.test_root = test.relative;
  }
  c.output_dir = absl::StrCat(options.state_dir, "/jobs/", id);
  c.tensorboard_dir = absl::StrCat(options.state_dir, "/tensorboard/", id);
  if (c.threads == 0) c.threads = options.default_threads;
  return absl::OkStatus();
}

// Bytes of the files under `dir` (0 when it is missing).
int64_t DiskBytes(const std::string& dir) {
  std::error_code ec;
  int64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) total += static_cast<int64_t>(it->file_size(size_ec));
  }
  return total;
}

// Job ids are ours ("job-N"); a longer one is no job, and is not echoed.
constexpr size_t kMaxJobIdBytes = 64;

absl::Status NoSuchJob(const std::string& id) {
  if (id.size() > kMaxJobIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat("job id of ", id.size(), " bytes; ids are at most ",
                                                   kMaxJobIdBytes));
  }
  return absl::NotFoundError(absl::StrCat("no job ", id));
}

bool JobFilesExist(const JobManagerOptions& options, const std::string& id) {
  std::error_code ec;
  return std::filesystem::exists(absl::StrCat(options.state_dir, "/jobs/", id), ec) ||
         std::filesystem::exists(absl::StrCat(options.state_dir, "/tensorboard/", id), ec);
}

}  // namespace

// Runs on the job's worker thread: records each event in the store, the
// in-memory snapshot and the hub, in that order, without holding mu_ across
// the SQLite writes.
class JobManager::Observer : public common::TrainingObserver {
 public:
  Observer(JobManager* manager, Job* job) : m_(manager), job_(job), id_(job->info.id) {}

  void OnProgress(const common::Progress& p) override { m_->hub_->Publish(id_, p); }

  void OnEpochEnd(const common::EpochMetrics& metrics) override {
    // A state dir deleted or replaced under a running job would swallow its
    // records and let a second catdogd take the dir: stop the job instead.
    if (absl::Status here = m_->CheckStateDir(); !here.ok()) {
      m_->FailRunning(job_, std::string(here.message()));
      return;
    }
    if (absl::Status s = m_->store_->AppendEpoch(id_, metrics, checkpoints_); !s.ok()) {
      spdlog::warn("[{}] could not store epoch {}: {}", id_, metrics.epoch, s);
    }
    checkpoints_.clear();
    common::JobInfo snapshot;
    {
      absl::MutexLock lock(&m_->mu_);
      common::JobInfo& info = job_->info;
      info.epochs_completed = metrics.epoch;
      info.last_epoch = metrics;
      if (metrics.is_best) {
        info.best_epoch = metrics.epoch;
        info.best_valid_accuracy = metrics.valid_accuracy;
      }
      snapshot = info;
    }
    m_->Persist(snapshot);
    spdlog::info("[{}] epoch {}: train loss {:.4f}, valid loss {:.4f}, valid acc {:.4f}, {:.1f} s{}",
                 id_, metrics.epoch, metrics.train_loss, metrics.valid_loss,
                 metrics.valid_accuracy, metrics.seconds, metrics.is_best ? " (best)" : "");
    m_->hub_->Publish(id_, metrics);
  }

  void OnCheckpoint(common::CheckpointKind kind, const std::string& path,
                    const common::EpochMetrics& metrics) override {
    // Recorded with the epoch's metrics in OnEpochEnd, which follows.
    checkpoints_.push_back({id_, common::CheckpointKindName(kind), path, metrics, std::nullopt});
  }

  void OnTestEvaluation(common::CheckpointKind kind, const common::EvalMetrics& metrics) override {
    common::TestEvaluation t{common::CheckpointKindName(kind), metrics};
    {
      absl::MutexLock lock(&m_->mu_);
      job_->info.test.push_back(t);
    }
    spdlog::info("[{}] test accuracy with {} weights: {:.4f} on {} images", id_, t.kind,
                 metrics.accuracy, metrics.count);
    m_->hub_->Publish(id_, std::move(t));
  }

 private:
  JobManager* const m_;
  Job* const job_;
  const std::string id_;
  std::vector<common::CheckpointInfo> checkpoints_;  // written since the last epoch row
};

absl::StatusOr<std::unique_ptr<JobManager>> JobManager::Create(const JobManagerOptions& options,
                                                               JobManagerDeps deps) {
  if (options.max_concurrent_jobs < 1) return absl::InvalidArgumentError("max concurrent jobs must be >= 1");
  if (options.max_queued_jobs < 1) return absl::InvalidArgumentError("max queued jobs must be >= 1");
  if (deps.store == nullptr || deps.hub == nullptr || !deps.make_run) {
    return absl::InvalidArgumentError("the job manager needs a store, a hub and a training run factory");
  }
  std::unique_ptr<JobManager> manager(new JobManager(options, std::move(deps)));
  CATDOG_ASSIGN_OR_RETURN(const struct stat state_dir, Stat(options.state_dir));
  manager->state_dir_id_ = {state_dir.st_dev, state_dir.st_ino};
  manager->RemoveStaleTemporaryFiles();
  CATDOG_RETURN_IF_ERROR(manager->Restore());
  manager->ApplyRetention();
  for (int i = 0; i < options.max_concurrent_jobs; ++i) {
    manager->workers_.emplace_back([m = manager.get()] { m->WorkerLoop(); });
  }
  return manager;
}

JobManager::~JobManager() { Shutdown(); }

absl::Status JobManager::CheckStateDir() const {
  absl::StatusOr<struct stat> now = Stat(options_.state_dir);
  if (now.ok() && now->st_dev == state_dir_id_.device && now->st_ino == state_dir_id_.inode) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "the state dir ", options_.state_dir,
      " was removed or replaced while catdogd ran; stop this catdogd and check the folder"));
}

void JobManager::FailRunning(Job* job, const std::string& why) {
  absl::MutexLock lock(&mu_);
  job->failure = why;
  job->stop.RequestStop();
}

void JobManager::RemoveStaleTemporaryFiles() const {
  // Checkpoints are written as NAME.tmp.PID and renamed; a process killed in
  // between leaves the temporary file. No job runs yet, so all are stale.
  std::error_code ec;
  const std::filesystem::path jobs = std::filesystem::path(options_.state_dir) / "jobs";
  for (auto it = std::filesystem::recursive_directory_iterator(jobs, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_regular_file(ec) && name.find(".ckpt.tmp.") != std::string::npos) {
      std::error_code removed;
      std::filesystem::remove(it->path(), removed);
      spdlog::info("removed {}, left by an interrupted checkpoint write", it->path().string());
    }
  }
}

void JobManager::Persist(const common::JobInfo& snapshot) {
  if (absl::Status s = store_->SaveJob(snapshot); !s.ok()) {
    spdlog::error("[{}] could not store job state: {}", snapshot.id, s);
  }
}

absl::Status JobManager::Restore() {
  CATDOG_ASSIGN_OR_RETURN(std::vector<common::JobInfo> stored, store_->LoadJobs());
  for (common::JobInfo& info : stored) {
    auto job = std::make_unique<Job>();
    int64_t number = 0;
    if (absl::SimpleAtoi(absl::string_view(info.id).substr(std::string(kJobPrefix).size()), &number)) {
      absl::MutexLock lock(&mu_);
      next_number_ = std::max(next_number_, number + 1);
    }
    // Jobs stored before paths were kept relative show them relative too.
    for (std::string* path : {&info.spec.config.dataset_root, &info.spec.config.test_root}) {
      absl::StatusOr<DatasetPath> resolved =
          path->empty() ? absl::NotFoundError("") : ResolveDatasetPath(options_.data_root, *path);
      if (resolved.ok()) *path = resolved->relative;
    }
    hub_->Open(info.id);
    hub_->Publish(info.id, common::StateChange{common::JobState::kQueued, ""});
    CATDOG_ASSIGN_OR_RETURN(std::vector<common::EpochMetrics> epochs, store_->LoadEpochs(info.id));
    if (!epochs.empty()) info.last_epoch = epochs.back();
    if (info.state == common::JobState::kQueued) {
      absl::StatusOr<common::TrainConfig> config = RunConfig(info.spec.config);
      absl::StatusOr<std::unique_ptr<common::TrainingRun>> run =
          config.ok() ? deps_.make_run(*config) : config.status();
      if (run.ok()) {
        job->run = *std::move(run);
      } else {
        info.state = common::JobState::kFailed;
        info.error = absl::StrCat("could not be queued again after a restart: ", run.status().message());
        info.finished_unix_ms = NowMs();
        Persist(info);
      }
    } else if (info.state == common::JobState::kRunning) {
      info.state = common::JobState::kInterrupted;
      info.error = "the server stopped while this job ran";
      info.finished_unix_ms = NowMs();
      Persist(info);
      spdlog::warn("[{}] was running when the server stopped: marked INTERRUPTED", info.id);
    }
    if (info.state != common::JobState::kQueued) {
      if (info.started_unix_ms > 0) hub_->Publish(info.id, common::StateChange{common::JobState::kRunning, ""});
      for (const common::EpochMetrics& m : epochs) hub_->Publish(info.id, m);
      for (const common::TestEvaluation& t : info.test) hub_->Publish(info.id, t);
      hub_->Publish(info.id, common::StateChange{info.state, info.error});
      hub_->Close(info.id);
    }
    job->info = std::move(info);
    absl::MutexLock lock(&mu_);
    Job* raw = job.get();
    order_.push_back(raw->info.id);
    if (raw->info.state == common::JobState::kQueued) queue_.push_back(raw);
    jobs_.emplace(raw->info.id, std::move(job));
  }
  absl::MutexLock lock(&mu_);
  if (!jobs_.empty()) {
    spdlog::info("restored {} jobs ({} queued again)", jobs_.size(), queue_.size());
  }
  return absl::OkStatus();
}

JobManager::Job* JobManager::FindLocked(const std::string& id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : it->second.get();
}

absl::StatusOr<common::JobInfo> JobManager::Start(common::JobSpec spec, const Submitter& by) {
  CATDOG_RETURN_IF_ERROR(ReserveQuota(by));
  absl::Cleanup release = [&] { ReleaseQuota(by); };
  std::string id;
  int64_t number = 0;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("server is shutting down");
    if (static_cast<int>(queue_.size()) >= options_.max_queued_jobs) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "job queue full (", queue_.size(), " jobs waiting); cancel one or retry later"));
    }
    // A folder left by a job the store no longer knows (a lost or replaced
    // catdog.db) keeps its number: a new job never writes into it.
    do {
      number = next_number_++;
      id = absl::StrCat(kJobPrefix, number);
    } while (JobFilesExist(options_, id));
  }
  // A refused request gives its number back, unless a later one took the next.
  absl::Cleanup give_back = [&] {
    absl::MutexLock lock(&mu_);
    if (next_number_ == number + 1) next_number_ = number;
  };
  CATDOG_RETURN_IF_ERROR(ResolveSpec(options_, id, spec));
  // Indexes the dataset (a directory walk): done here, unlocked, so a bad
  // dataset fails the request rather than the job.
  CATDOG_ASSIGN_OR_RETURN(const common::TrainConfig config, RunConfig(spec.config));
  CATDOG_ASSIGN_OR_RETURN(std::unique_ptr<common::TrainingRun> run, MakeRun(config));

  auto job = std::make_unique<Job>();
  common::JobInfo& info = job->info;
  info.id = id;
  info.state = common::JobState::kQueued;
  info.spec = std::move(spec);
  info.created_unix_ms = NowMs();
  info.owner = by.name;
  info.class_names = run->class_names();
  info.train_images = static_cast<int64_t>(run->train_size());
  info.valid_images = static_cast<int64_t>(run->valid_size());
  job->run = std::move(run);
  const common::JobInfo snapshot = info;
  CATDOG_RETURN_IF_ERROR(store_->SaveJob(snapshot));
  std::move(give_back).Cancel();
  hub_->Open(id);
  hub_->Publish(id, common::StateChange{common::JobState::kQueued, ""});
  {
    absl::MutexLock lock(&mu_);
    Job* raw = job.get();
    jobs_.emplace(id, std::move(job));
    order_.push_back(id);
    queue_.push_back(raw);
  }
  spdlog::info("[{}] queued{}: {} ({} train / {} valid images, {} px, {} epochs)", id,
               by.name.empty() ? "" : absl::StrCat(" for ", by.name), snapshot.spec.config.dataset_root,
               snapshot.train_images, snapshot.valid_images, snapshot.spec.config.preprocessing.image_size,
               snapshot.spec.config.epochs);
  return snapshot;
}

absl::Status JobManager::ReserveQuota(const Submitter& by) {
  std::vector<std::string> own;
  {
    absl::MutexLock lock(&mu_);
    // Jobs being started or resumed count too: two calls at once cannot
    // both take the last slot.
    int active = starting_[by.name];
    for (const std::string& id : order_) {
      const Job* job = FindLocked(id);
      if (job->info.owner != by.name) continue;
      own.push_back(id);
      if (!common::IsTerminal(job->info.state)) ++active;
    }
    if (by.max_active_jobs > 0 && active >= by.max_active_jobs) {
      return absl::ResourceExhaustedError(absl::StrCat("'", by.name, "' has ", active,
                                                       " queued or running jobs, its limit (max_active_jobs); wait "
                                                       "for one to end or cancel one"));
    }
    ++starting_[by.name];
  }
  if (by.max_checkpoint_bytes > 0) {
    int64_t used = 0;
    for (const std::string& id : own) used += DiskBytes(absl::StrCat(options_.state_dir, "/jobs/", id));
    if (used >= by.max_checkpoint_bytes) {
      ReleaseQuota(by);
      return absl::ResourceExhaustedError(absl::StrFormat(
          "the checkpoints of '%s' take %.0f MB of its %.0f MB (max_checkpoint_mb); remove old jobs with "
          "catdogctl delete",
          by.name, used / 1048576.0, by.max_checkpoint_bytes / 1048576.0));
    }
  }
  return absl::OkStatus();
}

void JobManager::ReleaseQuota(const Submitter& by) {
  absl::MutexLock lock(&mu_);
  if (--starting_[by.name] == 0) starting_.erase(by.name);
}

absl::StatusOr<common::TrainConfig> JobManager::RunConfig(common::TrainConfig c) const {
  CATDOG_ASSIGN_OR_RETURN(const DatasetPath dataset, ResolveDatasetPath(options_.data_root, c.dataset_root));
  c.dataset_root = dataset.resolved;
  if (!c.test_root.empty()) {
    CATDOG_ASSIGN_OR_RETURN(const DatasetPath test, ResolveDatasetPath(options_.data_root, c.test_root));
    c.test_root = test.resolved;
  }
  std::error_code ec;
  c.confine_root = std::filesystem::canonical(options_.data_root, ec).string();
  if (ec) return absl::FailedPreconditionError("the server's data root is not accessible");
  return c;
}

absl::StatusOr<std::unique_ptr<common::TrainingRun>> JobManager::MakeRun(const common::TrainConfig& c) const {
  CATDOG_ASSIGN_OR_RETURN(std::unique_ptr<common::TrainingRun> run, deps_.make_run(c));
  if (const int64_t need = run->estimated_peak_bytes();
      options_.max_job_memory_bytes > 0 && need > options_.max_job_memory_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "this job would need about %.1f GiB (batch %d at %d px, width %g), more than the %.1f GiB a job "
        "may use here (--max-job-memory-gb): lower the batch size, image size or width",
        need / double(1LL << 30), c.batch_size, c.preprocessing.image_size, c.width,
        options_.max_job_memory_bytes / double(1LL << 30)));
  }
  return run;
}

absl::StatusOr<common::JobInfo> JobManager::Resume(const std::string& id, const Submitter& by) {
  CATDOG_RETURN_IF_ERROR(ReserveQuota(by));
  absl::Cleanup release = [&] { ReleaseQuota(by); };
  common::JobInfo snapshot;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("server is shutting down");
    Job* job = FindLocked(id);
    if (job == nullptr) return NoSuchJob(id);
    const common::JobState state = job->info.state;
    if (state != common::JobState::kInterrupted && state != common::JobState::kCancelled &&
        state != common::JobState::kFailed) {
      return absl::FailedPreconditionError(absl::StrCat(
          "job ", id, " is ", common::JobStateName(state),
          "; only an INTERRUPTED, CANCELLED or FAILED job can be resumed"));
    }
    if (job->busy) return absl::AbortedError(absl::StrCat("job ", id, " is being resumed or deleted already"));
    if (static_cast<int>(queue_.size()) >= options_.max_queued_jobs) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "job queue full (", queue_.size(), " jobs waiting); cancel one or retry later"));
    }
    job->busy = true;
    snapshot = job->info;
  }
  absl::Cleanup done = [&] {
    absl::MutexLock lock(&mu_);
    FindLocked(id)->busy = false;
  };
  // Stored with the job: a restart before it runs still resumes it.
  snapshot.spec.config.resume = true;
  CATDOG_ASSIGN_OR_RETURN(const common::TrainConfig config, RunConfig(snapshot.spec.config));
  CATDOG_ASSIGN_OR_RETURN(std::unique_ptr<common::TrainingRun> run, MakeRun(config));
  // The history continues where the checkpoint does: rows after it are
  // trained again, and a row the checkpoint has but the store missed (a
  // crash between the two writes) comes from the checkpoint's card.
  const std::optional<common::EpochMetrics> after = run->resumes_after();
  const int64_t resume_epoch = after ? after->epoch : 0;
  CATDOG_RETURN_IF_ERROR(store_->DropEpochsAfter(id, resume_epoch));
  CATDOG_ASSIGN_OR_RETURN(std::vector<common::EpochMetrics> stored, store_->LoadEpochs(id));
  if (after && (stored.empty() || stored.back().epoch < after->epoch)) {
    CATDOG_RETURN_IF_ERROR(store_->AppendEpoch(id, *after, {}));
  }
  snapshot.state = common::JobState::kQueued;
  snapshot.error.clear();
  snapshot.promotion.clear();
  snapshot.test.clear();
  snapshot.finished_unix_ms = 0;
  snapshot.epochs_completed = resume_epoch;
  // Stored before a worker can take the job, so its RUNNING row comes after.
  CATDOG_RETURN_IF_ERROR(store_->SaveJob(snapshot));
  {
    absl::MutexLock lock(&mu_);
    Job* job = FindLocked(id);
    job->info = snapshot;
    job->cancel_requested = false;
    job->failure.clear();
    job->stop.Reset();
    job->run = std::move(run);
    // Published before a worker can take the job, so RUNNING follows QUEUED
    // (the hub's wake callbacks never take this lock).
    hub_->Open(id);
    hub_->Publish(id, common::StateChange{common::JobState::kQueued, ""});
    queue_.push_back(job);
  }
  spdlog::info("[{}] resumed: queued to continue after epoch {}", id, resume_epoch);
  return snapshot;
}

absl::Status JobManager::Delete(const std::string& id) {
  {
    absl::MutexLock lock(&mu_);
    Job* job = FindLocked(id);
    if (job == nullptr) return NoSuchJob(id);
    if (!common::IsTerminal(job->info.state)) {
      return absl::FailedPreconditionError(absl::StrCat("job ", id, " is ", common::JobStateName(job->info.state),
                                                        "; cancel it first"));
    }
    if (job->busy) return absl::AbortedError(absl::StrCat("job ", id, " is being resumed or deleted already"));
    job->busy = true;
  }
  absl::Cleanup done = [&] {
    absl::MutexLock lock(&mu_);
    if (Job* job = FindLocked(id)) job->busy = false;
  };
  if (deps_.is_serving && deps_.is_serving(id)) {
    return absl::FailedPreconditionError(
        absl::StrCat("a checkpoint of job ", id, " is being served; promote another model first"));
  }
  CATDOG_RETURN_IF_ERROR(store_->DeleteJob(id));
  {
    absl::MutexLock lock(&mu_);
    jobs_.erase(id);
    order_.erase(std::remove(order_.begin(), order_.end(), id), order_.end());
  }
  // The emptied jobs/<id> folder stays, with a note: a new job never takes
  // this id (JobFilesExist), even after a restart.
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::path(options_.state_dir) / "jobs" / id;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) std::filesystem::remove_all(entry.path(), ec);
  std::filesystem::remove_all(std::filesystem::path(options_.state_dir) / "tensorboard" / id, ec);
  std::filesystem::create_directories(dir, ec);
  {
    std::ofstream note(dir / "DELETED");
    note << "job " << id << " was deleted at " << absl::FormatTime(absl::Now()) << "; its id is not reused\n";
  }
  spdlog::info("[{}] deleted", id);
  return absl::OkStatus();
}

void JobManager::ApplyRetention() {
  if (options_.keep_checkpoints <= 0) return;
  std::vector<Job*> finished;
  {
    absl::MutexLock lock(&mu_);
    // Newest first; jobs that ended in the same millisecond by creation.
    for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
      Job* job = FindLocked(*it);
      const common::JobState state = job->info.state;
      if (IsTerminal(state) && state != common::JobState::kInterrupted && !job->busy) finished.push_back(job);
    }
    std::stable_sort(finished.begin(), finished.end(), [](const Job* a, const Job* b) {
      return a->info.finished_unix_ms > b->info.finished_unix_ms;
    });
    if (static_cast<int>(finished.size()) <= options_.keep_checkpoints) return;
    finished.erase(finished.begin(), finished.begin() + options_.keep_checkpoints);
    for (Job* job : finished) job->busy = true;
  }
  for (Job* job : finished) {
    const std::string& id = job->info.id;  // constant
    std::error_code ec;
    const std::filesystem::path dir = std::filesystem::path(options_.state_dir) / "jobs" / id;
    bool removed = false;
    if (!(deps_.is_serving && deps_.is_serving(id))) {
      for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        if (entry.path().extension() == ".ckpt") removed |= std::filesystem::remove(entry.path(), ec);
      }
    }
    if (removed) {
      if (absl::Status s = store_->DeleteCheckpoints(id); !s.ok()) {
        spdlog::warn("[{}] could not forget its removed checkpoints: {}", id, s);
      }
      spdlog::info("[{}] checkpoints removed: --keep-checkpoints keeps the newest {} finished jobs'", id,
                   options_.keep_checkpoints);
    }
    absl::MutexLock lock(&mu_);
    job->busy = false;
  }
}

absl::StatusOr<common::JobInfo> JobManager::Get(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  const Job* job = FindLocked(id);
  if (job == nullptr) return NoSuchJob(id);
  return job->info;
}

std::vector<common::JobInfo> JobManager::List(const std::vector<common::JobState>& states) const {
  absl::MutexLock lock(&mu_);
  std::vector<common::JobInfo> out;
  for (const std::string& id : order_) {
    const common::JobInfo& info = FindLocked(id)->info;
    if (states.empty() || std::find(states.begin(), states.end(), info.state) != states.end()) {
      out.push_back(info);
    }
  }
  return out;
}

std::map<common::JobState, int64_t> JobManager::CountByState() const {
  absl::MutexLock lock(&mu_);
  std::map<common::JobState, int64_t> counts;
  for (const auto& [id, job] : jobs_) ++counts[job->info.state];
  return counts;
}

absl::StatusOr<std::vector<common::CheckpointInfo>> JobManager::ListCheckpoints(
    const std::string& job_id) const {
  if (!job_id.empty()) {
    absl::MutexLock lock(&mu_);
    if (FindLocked(job_id) == nullptr) return NoSuchJob(job_id);
  }
  return store_->LoadCheckpoints(job_id);
}

absl::StatusOr<common::JobInfo> JobManager::Cancel(const std::string& id) {
  Job* queued = nullptr;
  {
    absl::MutexLock lock(&mu_);
    Job* job = FindLocked(id);
    if (job == nullptr) return NoSuchJob(id);
    switch (job->info.state) {
      case common::JobState::kRunning:
        job->cancel_requested = true;
        job->stop.RequestStop();
        spdlog::info("[{}] cancel requested; stopping at the next batch", id);
        return job->info;
      case common::JobState::kQueued:
        queue_.erase(std::remove(queue_.begin(), queue_.end(), job), queue_.end());
        queued = job;
        break;
      default:
        return absl::FailedPreconditionError(
            absl::StrCat("job ", id, " already ended (", common::JobStateName(job->info.state), ")"));
    }
  }
  Finish(queued, common::JobState::kCancelled, "");
  return Get(id);
}

void JobManager::Finish(Job* job, common::JobState state, const std::string& error) {
  common::JobInfo snapshot;
  {
    absl::MutexLock lock(&mu_);
    job->info.state = state;
    job->info.error = error;
    job->info.finished_unix_ms = NowMs();
    job->run.reset();  // frees the dataset index
    snapshot = job->info;
  }
  Persist(snapshot);
  if (state == common::JobState::kFailed) {
    spdlog::error("[{}] FAILED: {}", snapshot.id, error);
  } else {
    spdlog::info("[{}] {}", snapshot.id, common::JobStateName(state));
  }
  ApplyRetention();  // done by the time watchers see the end
  hub_->Publish(snapshot.id, common::StateChange{state, error});
  hub_->Close(snapshot.id);
}

void JobManager::WorkerLoop() {
  if (options_.job_nice) {
    // Threads this one starts (loader, intra-op team, ranks) inherit it.
    if (const absl::Status set = common::SetThreadNice(*options_.job_nice); !set.ok()) {
      spdlog::warn("training threads stay at the serving threads' priority: {}", set);
    }
  }
  while (true) {
    Job* job = nullptr;
    {
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
      absl::MutexLock lock(&mu_, absl::Condition(&ready));
      if (stopping_) return;
      job = queue_.front();
      queue_.pop_front();
      job->info.state = common::JobState::kRunning;
      job->info.started_unix_ms = NowMs();
    }
    RunJob(job);
  }
}

void JobManager::RunJob(Job* job) {
  common::JobInfo snapshot;
  common::TrainingRun* run;
  {
    absl::MutexLock lock(&mu_);
    snapshot = job->info;
    run = job->run.get();
  }
  Persist(snapshot);
  hub_->Publish(snapshot.id, common::StateChange{common::JobState::kRunning, ""});
  if (absl::Status here = CheckStateDir(); !here.ok()) {
    Finish(job, common::JobState::kFailed, std::string(here.message()));
    return;
  }
  spdlog::info("[{}] running", snapshot.id);

  Observer observer(this, job);
  const absl::StatusOr<common::TrainingResult> result = run->Run(&observer, &job->stop);
  if (result.ok()) {
    if (snapshot.spec.auto_promote && deps_.promote) {
      const api::ModelId model_id = api::ModelId::Checkpoint(snapshot.id, "best");
      absl::StatusOr<std::string> decision = deps_.promote(model_id, result->best_valid_accuracy);
      std::string promotion = decision.ok() ? *std::move(decision)
                                            : absl::StrCat("not promoted: ", decision.status().message());
      spdlog::info("[{}] {}", snapshot.id, promotion);
      absl::MutexLock lock(&mu_);
      job->info.promotion = std::move(promotion);  // persisted by Finish
    }
    Finish(job, common::JobState::kSucceeded, "");
    return;
  }
  if (result.status().code() == absl::StatusCode::kCancelled) {
    bool cancelled;
    std::string failure;
    {
      absl::MutexLock lock(&mu_);
      cancelled = job->cancel_requested;
      failure = job->failure;
    }
    if (!failure.empty()) {
      Finish(job, common::JobState::kFailed, failure);
      return;
    }
    Finish(job, cancelled ? common::JobState::kCancelled : common::JobState::kInterrupted,
           cancelled ? "" : "the server shut down while this job ran");
    return;
  }
  Finish(job, common::JobState::kFailed, std::string(result.status().message()));
}

void JobManager::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [id, job] : jobs_) {
      if (job->info.state == common::JobState::kRunning) job->stop.RequestStop();
    }
  }
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
}

}  // namespace catdog::server
