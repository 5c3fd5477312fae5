// The job manager: validates training requests, queues them, runs them on
// worker threads (max_concurrent_jobs at a time, in submission order), and
// records every step in the JobStore and the EventHub.
//
// Thread-safe. The mutex is never held across training, SQLite writes or
// model loading. Errors: NOT_FOUND (unknown job, missing dataset),
// PERMISSION_DENIED (dataset outside the data root), INVALID_ARGUMENT (bad
// config or dataset layout), RESOURCE_EXHAUSTED (queue full),
// FAILED_PRECONDITION (cancelling a finished job), UNAVAILABLE (shutting
// down).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "api/model_id.h"
#include "common/data/job.h"
#include "common/data/training_run.h"
#include "server/training/event_hub.h"
#include "server/training/job_store.h"

namespace catdog::server {

struct JobManagerOptions {
  std::string data_root;  // datasets must resolve inside it
  std::string state_dir;  // jobs/<id>/ checkpoints, tensorboard/<id>/ event files
  int max_concurrent_jobs = 1;
  int max_queued_jobs = 16;
  int default_threads = 0;  // for jobs that do not set threads; 0 = all cores
  // A job whose estimated peak memory is above this is refused
  // (RESOURCE_EXHAUSTED) instead of getting the process killed; 0 = no limit.
  int64_t max_job_memory_bytes = 0;
  // Checkpoint retention: the checkpoint files of the newest this many
  // finished (SUCCEEDED, FAILED, CANCELLED) jobs are kept, older ones'
  // removed, except a served model's. INTERRUPTED jobs keep theirs, to be
  // resumed. 0 = keep all.
  int keep_checkpoints = 0;
  // The nice value training threads run at (the worker, its loader and
  // intra-op threads, in-process ranks); unset = the worker's inherited one.
  // catdogd may run serving at a higher priority than training
  // (--serving-nice): its workers then go back to the nice it started with.
  std::optional<int> job_nice;
};

// Who starts or resumes a job, and what they may hold (0 = no limit).
struct Submitter {
  std::string name;  // recorded as the job's owner; empty when tokens are off
  int max_active_jobs = 0;           // their queued + running jobs
  int64_t max_checkpoint_bytes = 0;  // the checkpoint files of all their jobs
};

// What the job manager works with, passed in so tests can substitute each.
struct JobManagerDeps {
  JobStore* store = nullptr;  // must outlive the manager
  EventHub* hub = nullptr;    // must outlive the manager
  // Validates a config and indexes its datasets (common::Trainer::Create in
  // catdogd; a fake in tests, so they need no model).
  common::TrainingRunFactory make_run;
  // Auto-promote: offered a succeeded job's best checkpoint and its
  // validation accuracy, decides and returns what it did and why (recorded
  // as JobInfo::promotion). May be empty.
  std::function<absl::StatusOr<std::string>(const api::ModelId&, double valid_accuracy)> promote;
  // Whether a checkpoint of the job is being served: its files are never
  // removed. May be empty (nothing is served).
  std::function<bool(const std::string& job_id)> is_serving;
};

class JobManager {
 public:
  // Reloads the store: running jobs become INTERRUPTED, queued jobs are
  // queued again, every job's history is replayable through the hub. Starts
  // the workers.
  static absl::StatusOr<std::unique_ptr<JobManager>> Create(const JobManagerOptions& options,
                                                            JobManagerDeps deps);
  ~JobManager();
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // INVALID_ARGUMENT / PERMISSION_DENIED / NOT_FOUND for a bad spec or
  // dataset, RESOURCE_EXHAUSTED when the queue, the memory budget or the
  // submitter's quota is full.
  absl::StatusOr<common::JobInfo> Start(common::JobSpec spec, const Submitter& by = {}) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<common::JobInfo> Get(const std::string& id) const ABSL_LOCKS_EXCLUDED(mu_);
  // Oldest first; all jobs when `states` is empty.
  std::vector<common::JobInfo> List(const std::vector<common::JobState>& states) const ABSL_LOCKS_EXCLUDED(mu_);
  // Queues an INTERRUPTED, CANCELLED or FAILED job again, to continue from
  // its last complete epoch (or mid-epoch checkpoint) with the config it was
  // started with; its epoch history continues where the checkpoint is.
  // FAILED_PRECONDITION for a job in any other state, INVALID_ARGUMENT when
  // its checkpoints cannot be continued from (damaged, or the dataset's
  // classes changed).
  absl::StatusOr<common::JobInfo> Resume(const std::string& id, const Submitter& by = {}) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes a finished job: its record, history, checkpoints and
  // TensorBoard run. FAILED_PRECONDITION while it is queued or running, or
  // while one of its checkpoints is served. Its id is not given out again.
  absl::Status Delete(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  // A queued job is cancelled at once; a running one stops within one batch
  // (the returned snapshot may still say RUNNING).
  absl::StatusOr<common::JobInfo> Cancel(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  std::map<common::JobState, int64_t> CountByState() const ABSL_LOCKS_EXCLUDED(mu_);
  // One job's checkpoints (all jobs' when `job_id` is empty); NOT_FOUND for
  // an unknown job.
  absl::StatusOr<std::vector<common::CheckpointInfo>> ListCheckpoints(const std::string& job_id) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Stops taking jobs; running jobs stop at the next batch (INTERRUPTED,
  // their last complete checkpoint kept); queued jobs stay queued in the
  // store for the next start. Joins the workers. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Job {
    common::JobInfo info;
    std::unique_ptr<common::TrainingRun> run;  // until the run ends
    common::StopToken stop;
    bool cancel_requested = false;
    // A Resume, Delete or the retention pass works on the job's files.
    bool busy = false;
    std::string failure;  // set when the manager stopped the run as failed
  };
  // The state dir's identity, taken at Create.
  struct DirId {
    dev_t device = 0;
    ino_t inode = 0;
  };
  class Observer;

  JobManager(const JobManagerOptions& options, JobManagerDeps deps)
      : options_(options), deps_(std::move(deps)), store_(deps_.store), hub_(deps_.hub) {}
  absl::Status Restore() ABSL_LOCKS_EXCLUDED(mu_);
  // Checks the submitter's active-jobs and checkpoint-bytes quotas and, when
  // they allow one more job, holds a place for it until ReleaseQuota (the
  // job is queued by then, and counts itself).
  absl::Status ReserveQuota(const Submitter& by) ABSL_LOCKS_EXCLUDED(mu_);
  void ReleaseQuota(const Submitter& by) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes the checkpoint files --keep-checkpoints no longer keeps.
  void ApplyRetention() ABSL_LOCKS_EXCLUDED(mu_);
  // A stored config made runnable: dataset paths resolved and confined to
  // the data root (again: it may have changed since the job was stored).
  absl::StatusOr<common::TrainConfig> RunConfig(common::TrainConfig config) const;
  // make_run, then the memory budget check.
  absl::StatusOr<std::unique_ptr<common::TrainingRun>> MakeRun(const common::TrainConfig& config) const;
  // FAILED_PRECONDITION when the state dir is gone or is another folder now.
  absl::Status CheckStateDir() const;
  // Stops a running job; it ends FAILED with `why`.
  void FailRunning(Job* job, const std::string& why) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes temporary checkpoint files a killed process left behind.
  void RemoveStaleTemporaryFiles() const;
  void WorkerLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void RunJob(Job* job) ABSL_LOCKS_EXCLUDED(mu_);
  // Sets a terminal state, persists it, publishes it and closes the log.
  void Finish(Job* job, common::JobState state, const std::string& error) ABSL_LOCKS_EXCLUDED(mu_);
  void Persist(const common::JobInfo& snapshot);
  Job* FindLocked(const std::string& id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const JobManagerOptions options_;
  const JobManagerDeps deps_;
  JobStore* const store_;
  EventHub* const hub_;
  DirId state_dir_id_;  // set in Create, then constant

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Job>> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);  // creation order
  std::deque<Job*> queue_ ABSL_GUARDED_BY(mu_);
  int64_t next_number_ ABSL_GUARDED_BY(mu_) = 1;
  // Start and Resume calls in progress, per submitter (ReserveQuota).
  absl::flat_hash_map<std::string, int> starting_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::vector<std::thread> workers_;  // last: started after everything above
};

}  // namespace catdog::server
