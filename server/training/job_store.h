// Durable job history in SQLite: jobs with their spec and state, every
// epoch's metrics, checkpoints with their metrics, test evaluations, and the
// history of promoted models. Survives restarts; the job manager reloads it at start.
//
// The schema is versioned (PRAGMA user_version): Open() migrates an older
// database step by step, each step in one transaction, and refuses one
// written by a newer catdogd. Rows are read and written by column name.
//
// Thread-safe: one connection, serialised by an internal mutex held only for
// the duration of each SQLite call sequence. Errors: INTERNAL for SQLite
// failures (with SQLite's message), DATA_LOSS for unreadable rows,
// FAILED_PRECONDITION for a database from a newer version.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/data/job.h"

struct sqlite3;

namespace catdog::server {

struct ServingRecord {
  std::string model_id;
  std::string path;
};

class JobStore {
 public:
  // The schema version this build writes.
  static constexpr int kSchemaVersion = 6;

  // Opens or creates the database at `path` (WAL journal, synchronous=FULL)
  // and migrates it to kSchemaVersion.
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& path);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Inserts or replaces the job row and its test evaluations.
  absl::Status SaveJob(const common::JobInfo& job) ABSL_LOCKS_EXCLUDED(mu_);
  // One epoch's metrics and the checkpoints written for it, in one
  // transaction: the checkpoint list never shows an epoch the history lacks.
  absl::Status AppendEpoch(const std::string& job_id, const common::EpochMetrics& metrics,
                           const std::vector<common::CheckpointInfo>& checkpoints) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes the job's epoch rows after `epoch` (a resumed job retrains them).
  absl::Status DropEpochsAfter(const std::string& job_id, int64_t epoch) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes the job and everything recorded for it (not its promotions:
  // the serving history stays whole).
  absl::Status DeleteJob(const std::string& job_id) ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets the job's checkpoints (their files were removed).
  absl::Status DeleteCheckpoints(const std::string& job_id) ABSL_LOCKS_EXCLUDED(mu_);
  // Appends a promotion to the serving history.
  absl::Status RecordPromotion(const ServingRecord& serving) ABSL_LOCKS_EXCLUDED(mu_);

  // All jobs, oldest first.
  absl::StatusOr<std::vector<common::JobInfo>> LoadJobs() ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<common::EpochMetrics>> LoadEpochs(const std::string& job_id)
      ABSL_LOCKS_EXCLUDED(mu_);
  // All checkpoints (job_id empty) or one job's.
  absl::StatusOr<std::vector<common::CheckpointInfo>> LoadCheckpoints(const std::string& job_id = "")
      ABSL_LOCKS_EXCLUDED(mu_);
  // The file of one job's checkpoint; NOT_FOUND when there is none.
  absl::StatusOr<std::string> CheckpointPath(const std::string& job_id, const std::string& kind)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Every model ever promoted, newest promotion first, each once.
  absl::StatusOr<std::vector<ServingRecord>> LoadPromotions() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit JobStore(sqlite3* db) : db_(db) {}
  absl::Status ExecLocked(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status MigrateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* const db_ ABSL_PT_GUARDED_BY(mu_);
};

}  // namespace catdog::server
