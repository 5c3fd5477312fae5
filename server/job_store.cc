#include "server/job_store.h"

#include <sqlite3.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace catdog::server {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs(
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  config_json TEXT NOT NULL,
  auto_promote INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL,
  error TEXT NOT NULL,
  epochs_completed INTEGER NOT NULL,
  best_epoch INTEGER NOT NULL,
  best_valid_accuracy REAL NOT NULL,
  class_names TEXT NOT NULL,
  train_images INTEGER NOT NULL,
  valid_images INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS epochs(
  job_id TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  train_loss REAL, valid_loss REAL, valid_accuracy REAL, learning_rate REAL,
  early_stop_trigger INTEGER, seconds REAL, images_per_second REAL,
  data_wait_seconds REAL, is_best INTEGER,
  PRIMARY KEY(job_id, epoch));
CREATE TABLE IF NOT EXISTS checkpoints(
  job_id TEXT NOT NULL, kind TEXT NOT NULL, path TEXT NOT NULL,
  epoch INTEGER, valid_loss REAL, valid_accuracy REAL, test_accuracy REAL,
  PRIMARY KEY(job_id, kind));
CREATE TABLE IF NOT EXISTS test_evaluations(
  job_id TEXT NOT NULL, kind TEXT NOT NULL, metrics_json TEXT NOT NULL,
  PRIMARY KEY(job_id, kind));
CREATE TABLE IF NOT EXISTS serving(
  singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
  model_id TEXT NOT NULL, path TEXT NOT NULL);
)sql";

// One prepared statement; finalised on destruction.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    status_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int i, const std::string& v) {
    Check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Statement& Bind(int i, int64_t v) { Check(sqlite3_bind_int64(stmt_, i, v)); return *this; }
  Statement& Bind(int i, double v) { Check(sqlite3_bind_double(stmt_, i, v)); return *this; }
  Statement& BindNull(int i) { Check(sqlite3_bind_null(stmt_, i)); return *this; }

  // True while a row is available; errors end up in status().
  bool Step() {
    if (status_ != SQLITE_OK && status_ != SQLITE_ROW && status_ != SQLITE_DONE) return false;
    status_ = sqlite3_step(stmt_);
    return status_ == SQLITE_ROW;
  }
  absl::Status Run() {
    while (Step()) {}
    return status();
  }
  absl::Status status() const {
    if (status_ == SQLITE_OK || status_ == SQLITE_ROW || status_ == SQLITE_DONE) return absl::OkStatus();
    return absl::InternalError(absl::StrCat("sqlite: ", sqlite3_errmsg(db_)));
  }

  std::string Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) const { return sqlite3_column_double(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK && (status_ == SQLITE_OK)) status_ = rc;
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int status_ = SQLITE_OK;
};

// Class names never contain a newline (they are folder names read by line).
std::string JoinNames(const std::vector<std::string>& names) { return absl::StrJoin(names, "\n"); }
std::vector<std::string> SplitNames(const std::string& s) {
  if (s.empty()) return {};
  return absl::StrSplit(s, '\n');
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& path) {
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    const std::string why = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::InternalError(absl::StrCat("cannot open job store ", path, ": ", why));
  }
  std::unique_ptr<JobStore> store(new JobStore(db));
  absl::MutexLock lock(&store->mu_);
  sqlite3_busy_timeout(db, 5000);
  for (const char* sql : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;", kSchema}) {
    if (absl::Status s = store->ExecLocked(sql); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("job store ", path, ": ", s.message()));
    }
  }
  return store;
}

JobStore::~JobStore() { sqlite3_close(db_); }

absl::Status JobStore::ExecLocked(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    absl::Status s = absl::InternalError(absl::StrCat("sqlite: ", error != nullptr ? error : "?"));
    sqlite3_free(error);
    return s;
  }
  return absl::OkStatus();
}

absl::Status JobStore::SaveJob(const JobInfo& job) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = ExecLocked("BEGIN IMMEDIATE;"); !s.ok()) return s;
  Statement row(db_,
                "INSERT OR REPLACE INTO jobs VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)");
  row.Bind(1, job.id)
      .Bind(2, std::string(JobStateName(job.state)))
      .Bind(3, common::TrainConfigToJson(job.spec.config))
      .Bind(4, static_cast<int64_t>(job.spec.auto_promote))
      .Bind(5, job.created_unix_ms)
      .Bind(6, job.started_unix_ms)
      .Bind(7, job.finished_unix_ms)
      .Bind(8, job.error)
      .Bind(9, job.epochs_completed)
      .Bind(10, job.best_epoch)
      .Bind(11, job.best_valid_accuracy)
      .Bind(12, JoinNames(job.class_names))
      .Bind(13, job.train_images)
      .Bind(14, job.valid_images);
  absl::Status s = row.Run();
  for (const TestEvaluation& t : job.test) {
    if (!s.ok()) break;
    Statement eval(db_, "INSERT OR REPLACE INTO test_evaluations VALUES(?1,?2,?3)");
    s = eval.Bind(1, job.id).Bind(2, t.kind).Bind(3, common::EvalMetricsToJson(t.metrics)).Run();
    if (!s.ok()) break;
    Statement ckpt(db_, "UPDATE checkpoints SET test_accuracy=?1 WHERE job_id=?2 AND kind=?3");
    s = ckpt.Bind(1, t.metrics.accuracy).Bind(2, job.id).Bind(3, t.kind).Run();
  }
  if (!s.ok()) {
    ExecLocked("ROLLBACK;").IgnoreError();  // the original error is the one to report
    return s;
  }
  return ExecLocked("COMMIT;");
}

absl::Status JobStore::AppendEpoch(const std::string& job_id, const common::EpochMetrics& m) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "INSERT OR REPLACE INTO epochs VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)");
  return st.Bind(1, job_id)
      .Bind(2, m.epoch)
      .Bind(3, m.train_loss)
      .Bind(4, m.valid_loss)
      .Bind(5, m.valid_accuracy)
      .Bind(6, m.learning_rate)
      .Bind(7, m.early_stop_trigger)
      .Bind(8, m.seconds)
      .Bind(9, m.train_images_per_second)
      .Bind(10, m.data_wait_seconds)
      .Bind(11, static_cast<int64_t>(m.is_best))
      .Run();
}

absl::Status JobStore::SaveCheckpoint(const CheckpointInfo& c) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "INSERT OR REPLACE INTO checkpoints VALUES(?1,?2,?3,?4,?5,?6,?7)");
  st.Bind(1, c.job_id).Bind(2, c.kind).Bind(3, c.path).Bind(4, c.metrics.epoch)
      .Bind(5, c.metrics.valid_loss).Bind(6, c.metrics.valid_accuracy);
  if (c.test_accuracy) {
    st.Bind(7, *c.test_accuracy);
  } else {
    st.BindNull(7);
  }
  return st.Run();
}

absl::Status JobStore::SetServingModel(const ServingRecord& serving) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "INSERT OR REPLACE INTO serving VALUES(1,?1,?2)");
  return st.Bind(1, serving.model_id).Bind(2, serving.path).Run();
}

absl::StatusOr<std::vector<JobInfo>> JobStore::LoadJobs() {
  absl::MutexLock lock(&mu_);
  std::vector<JobInfo> jobs;
  Statement st(db_, "SELECT * FROM jobs ORDER BY created_ms, rowid");
  while (st.Step()) {
    JobInfo job;
    job.id = st.Text(0);
    const std::optional<JobState> state = JobStateFromName(st.Text(1));
    if (!state) return absl::DataLossError(absl::StrCat("job ", job.id, ": unknown state ", st.Text(1)));
    job.state = *state;
    absl::StatusOr<common::TrainConfig> config = common::TrainConfigFromJson(st.Text(2));
    if (!config.ok()) return absl::DataLossError(absl::StrCat("job ", job.id, ": ", config.status().message()));
    job.spec.config = *std::move(config);
    job.spec.auto_promote = st.Int(3) != 0;
    job.created_unix_ms = st.Int(4);
    job.started_unix_ms = st.Int(5);
    job.finished_unix_ms = st.Int(6);
    job.error = st.Text(7);
    job.epochs_completed = st.Int(8);
    job.best_epoch = st.Int(9);
    job.best_valid_accuracy = st.Real(10);
    job.class_names = SplitNames(st.Text(11));
    job.train_images = st.Int(12);
    job.valid_images = st.Int(13);
    jobs.push_back(std::move(job));
  }
  if (absl::Status s = st.status(); !s.ok()) return s;
  for (JobInfo& job : jobs) {
    Statement ev(db_, "SELECT kind, metrics_json FROM test_evaluations WHERE job_id=?1 ORDER BY kind");
    ev.Bind(1, job.id);
    while (ev.Step()) {
      absl::StatusOr<common::EvalMetrics> m = common::EvalMetricsFromJson(ev.Text(1));
      if (!m.ok()) return absl::DataLossError(absl::StrCat("job ", job.id, ": ", m.status().message()));
      job.test.push_back({ev.Text(0), *std::move(m)});
    }
    if (absl::Status s = ev.status(); !s.ok()) return s;
  }
  return jobs;
}

absl::StatusOr<std::vector<common::EpochMetrics>> JobStore::LoadEpochs(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "SELECT * FROM epochs WHERE job_id=?1 ORDER BY epoch");
  st.Bind(1, job_id);
  std::vector<common::EpochMetrics> epochs;
  while (st.Step()) {
    common::EpochMetrics m;
    m.epoch = st.Int(1);
    m.train_loss = st.Real(2);
    m.valid_loss = st.Real(3);
    m.valid_accuracy = st.Real(4);
    m.learning_rate = st.Real(5);
    m.early_stop_trigger = st.Int(6);
    m.seconds = st.Real(7);
    m.train_images_per_second = st.Real(8);
    m.data_wait_seconds = st.Real(9);
    m.is_best = st.Int(10) != 0;
    epochs.push_back(m);
  }
  if (absl::Status s = st.status(); !s.ok()) return s;
  return epochs;
}

absl::StatusOr<std::vector<CheckpointInfo>> JobStore::LoadCheckpoints(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, job_id.empty()
                        ? "SELECT * FROM checkpoints ORDER BY rowid"
                        : "SELECT * FROM checkpoints WHERE job_id=?1 ORDER BY rowid");
  if (!job_id.empty()) st.Bind(1, job_id);
  std::vector<CheckpointInfo> out;
  while (st.Step()) {
    CheckpointInfo c;
    c.job_id = st.Text(0);
    c.kind = st.Text(1);
    c.path = st.Text(2);
    c.metrics.epoch = st.Int(3);
    c.metrics.valid_loss = st.Real(4);
    c.metrics.valid_accuracy = st.Real(5);
    if (!st.IsNull(6)) c.test_accuracy = st.Real(6);
    out.push_back(std::move(c));
  }
  if (absl::Status s = st.status(); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<ServingRecord>> JobStore::LoadServingModel() {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "SELECT model_id, path FROM serving WHERE singleton=1");
  std::optional<ServingRecord> out;
  if (st.Step()) out = ServingRecord{st.Text(0), st.Text(1)};
  if (absl::Status s = st.status(); !s.ok()) return s;
  return out;
}

}  // namespace catdog::server
