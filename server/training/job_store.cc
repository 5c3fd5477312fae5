#include "server/training/job_store.h"

#include <sqlite3.h>

#include <filesystem>
#include <iterator>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace catdog::server {
namespace {

// Version 1: the schema of catdogd before versioning (user_version 0 with
// these tables, or an empty file). CREATE IF NOT EXISTS leaves an old
// database's tables as they are.
constexpr const char* kSchemaV1 = R"sql(
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

std::string NamesToJson(const std::vector<std::string>& names) { return nlohmann::json(names).dump(); }
absl::StatusOr<std::vector<std::string>> NamesFromJson(const std::string& text) {
  try {
    return nlohmann::json::parse(text).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("bad class names JSON: ", e.what()));
  }
}

// Version 2: class names as a JSON array (a folder name may hold any
// character, a newline included), replacing the newline-joined column.
absl::Status MigrateToV2(sqlite3* db) {
  Statement add(db, "ALTER TABLE jobs ADD COLUMN class_names_json TEXT NOT NULL DEFAULT '[]'");
  if (absl::Status s = add.Run(); !s.ok()) return s;
  std::vector<std::pair<std::string, std::string>> rows;
  Statement read(db, "SELECT id, class_names FROM jobs");
  while (read.Step()) rows.emplace_back(read.Text(0), read.Text(1));
  if (absl::Status s = read.status(); !s.ok()) return s;
  for (const auto& [id, joined] : rows) {
    std::vector<std::string> names;
    if (!joined.empty()) names = absl::StrSplit(joined, '\n');
    Statement write(db, "UPDATE jobs SET class_names_json=?1 WHERE id=?2");
    if (absl::Status s = write.Bind(1, NamesToJson(names)).Bind(2, id).Run(); !s.ok()) return s;
  }
  Statement drop(db, "ALTER TABLE jobs DROP COLUMN class_names");
  return drop.Run();
}

// Version 3: every promotion in order, not just the last, so a restart can
// fall back to the newest model that still loads.
constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE promotions(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  model_id TEXT NOT NULL, path TEXT NOT NULL, promoted_ms INTEGER NOT NULL);
INSERT INTO promotions(model_id, path, promoted_ms) SELECT model_id, path, 0 FROM serving;
DROP TABLE serving;
)sql";

absl::Status ExecSql(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) == SQLITE_OK) return absl::OkStatus();
  absl::Status s = absl::InternalError(absl::StrCat("sqlite: ", error != nullptr ? error : "?"));
  sqlite3_free(error);
  return s;
}

struct Migration {
  const char* what;
  absl::Status (*apply)(sqlite3* db);
};

// kMigrations[v] takes a database at user_version v to v + 1.
const Migration kMigrations[] = {
    {"create the tables", [](sqlite3* db) { return ExecSql(db, kSchemaV1); }},
    {"class names as JSON arrays", &MigrateToV2},
    {"a history of promotions", [](sqlite3* db) { return ExecSql(db, kSchemaV3); }},
    {"what auto-promote did per job", [](sqlite3* db) {
       return ExecSql(db, "ALTER TABLE jobs ADD COLUMN promotion TEXT NOT NULL DEFAULT '';");
     }},
    {"the token name that started each job", [](sqlite3* db) {
       return ExecSql(db, "ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';");
     }},
    {"the planned epoch count of each epoch (time budgets)", [](sqlite3* db) {
       return ExecSql(db, "ALTER TABLE epochs ADD COLUMN planned_epochs INTEGER NOT NULL DEFAULT 0;");
     }},
};
static_assert(std::size(kMigrations) == JobStore::kSchemaVersion, "one migration per schema version");

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
  absl::Status s = store->ExecLocked("PRAGMA journal_mode=WAL;");
  if (s.ok()) s = store->ExecLocked("PRAGMA synchronous=FULL;");
  if (s.ok()) s = store->MigrateLocked();
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("job store ", path, ": ", s.message()));
  return store;
}

absl::Status JobStore::MigrateLocked() {
  int version = 0;
  {
    Statement st(db_, "PRAGMA user_version");
    if (st.Step()) version = static_cast<int>(st.Int(0));
    if (absl::Status s = st.status(); !s.ok()) return s;
  }
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "schema version ", version, " was written by a newer catdogd (this one reads up to ",
        kSchemaVersion, "); upgrade catdogd or use another --state-dir"));
  }
  for (; version < kSchemaVersion; ++version) {
    const Migration& m = kMigrations[version];
    absl::Status s = ExecLocked("BEGIN IMMEDIATE;");
    if (s.ok()) s = m.apply(db_);
    // PRAGMA takes no bound parameters; the number is ours.
    if (s.ok()) s = ExecLocked(absl::StrCat("PRAGMA user_version=", version + 1, ";").c_str());
    if (!s.ok()) {
      ExecLocked("ROLLBACK;").IgnoreError();  // the migration's error is the one to report
      return absl::Status(s.code(), absl::StrCat("migration to schema version ", version + 1, " (",
                                                 m.what, "): ", s.message()));
    }
    if (absl::Status c = ExecLocked("COMMIT;"); !c.ok()) return c;
  }
  return absl::OkStatus();
}

JobStore::~JobStore() { sqlite3_close(db_); }

absl::Status JobStore::ExecLocked(const char* sql) { return ExecSql(db_, sql); }

absl::Status JobStore::SaveJob(const common::JobInfo& job) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = ExecLocked("BEGIN IMMEDIATE;"); !s.ok()) return s;
  Statement row(db_,
                "INSERT OR REPLACE INTO jobs(id, state, config_json, auto_promote, created_ms, "
                "started_ms, finished_ms, error, epochs_completed, best_epoch, best_valid_accuracy, "
                "class_names_json, train_images, valid_images, promotion, owner) "
                "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)");
  row.Bind(1, job.id)
      .Bind(2, std::string(common::JobStateName(job.state)))
      .Bind(3, common::TrainConfigToJson(job.spec.config))
      .Bind(4, static_cast<int64_t>(job.spec.auto_promote))
      .Bind(5, job.created_unix_ms)
      .Bind(6, job.started_unix_ms)
      .Bind(7, job.finished_unix_ms)
      .Bind(8, job.error)
      .Bind(9, job.epochs_completed)
      .Bind(10, job.best_epoch)
      .Bind(11, job.best_valid_accuracy)
      .Bind(12, NamesToJson(job.class_names))
      .Bind(13, job.train_images)
      .Bind(14, job.valid_images)
      .Bind(15, job.promotion)
      .Bind(16, job.owner);
  absl::Status s = row.Run();
  for (const common::TestEvaluation& t : job.test) {
    if (!s.ok()) break;
    Statement eval(db_, "INSERT OR REPLACE INTO test_evaluations(job_id, kind, metrics_json) VALUES(?1,?2,?3)");
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

absl::Status JobStore::DropEpochsAfter(const std::string& job_id, int64_t epoch) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "DELETE FROM epochs WHERE job_id = ?1 AND epoch > ?2");
  return st.Bind(1, job_id).Bind(2, epoch).Run();
}

absl::Status JobStore::AppendEpoch(const std::string& job_id, const common::EpochMetrics& m,
                                  const std::vector<common::CheckpointInfo>& checkpoints) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = ExecLocked("BEGIN IMMEDIATE;"); !s.ok()) return s;
  Statement epoch(db_,
                  "INSERT OR REPLACE INTO epochs(job_id, epoch, train_loss, valid_loss, valid_accuracy, "
                  "learning_rate, early_stop_trigger, seconds, images_per_second, data_wait_seconds, "
                  "is_best, planned_epochs) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)");
  absl::Status s = epoch.Bind(1, job_id)
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
                       .Bind(12, m.planned_epochs)
                       .Run();
  for (const common::CheckpointInfo& c : checkpoints) {
    if (!s.ok()) break;
    Statement st(db_,
                 "INSERT OR REPLACE INTO checkpoints(job_id, kind, path, epoch, valid_loss, "
                 "valid_accuracy, test_accuracy) VALUES(?1,?2,?3,?4,?5,?6,?7)");
    st.Bind(1, c.job_id).Bind(2, c.kind).Bind(3, c.path).Bind(4, c.metrics.epoch)
        .Bind(5, c.metrics.valid_loss).Bind(6, c.metrics.valid_accuracy);
    if (c.test_accuracy) {
      st.Bind(7, *c.test_accuracy);
    } else {
      st.BindNull(7);
    }
    s = st.Run();
  }
  if (!s.ok()) {
    ExecLocked("ROLLBACK;").IgnoreError();  // the original error is the one to report
    return s;
  }
  return ExecLocked("COMMIT;");
}

absl::Status JobStore::DeleteJob(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = ExecLocked("BEGIN IMMEDIATE;"); !s.ok()) return s;
  absl::Status s;
  for (const char* sql : {"DELETE FROM epochs WHERE job_id=?1", "DELETE FROM checkpoints WHERE job_id=?1",
                          "DELETE FROM test_evaluations WHERE job_id=?1", "DELETE FROM jobs WHERE id=?1"}) {
    Statement st(db_, sql);
    s = st.Bind(1, job_id).Run();
    if (!s.ok()) break;
  }
  if (!s.ok()) {
    ExecLocked("ROLLBACK;").IgnoreError();  // the original error is the one to report
    return s;
  }
  return ExecLocked("COMMIT;");
}

absl::Status JobStore::DeleteCheckpoints(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "DELETE FROM checkpoints WHERE job_id=?1");
  return st.Bind(1, job_id).Run();
}

absl::Status JobStore::RecordPromotion(const ServingRecord& serving) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "INSERT INTO promotions(model_id, path, promoted_ms) VALUES(?1,?2,?3)");
  return st.Bind(1, serving.model_id).Bind(2, serving.path).Bind(3, absl::ToUnixMillis(absl::Now())).Run();
}

absl::StatusOr<std::vector<common::JobInfo>> JobStore::LoadJobs() {
  absl::MutexLock lock(&mu_);
  std::vector<common::JobInfo> jobs;
  Statement st(db_,
               "SELECT id, state, config_json, auto_promote, created_ms, started_ms, finished_ms, "
               "error, epochs_completed, best_epoch, best_valid_accuracy, class_names_json, "
               "train_images, valid_images, promotion, owner FROM jobs ORDER BY created_ms, rowid");
  while (st.Step()) {
    common::JobInfo job;
    job.id = st.Text(0);
    const std::optional<common::JobState> state = common::JobStateFromName(st.Text(1));
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
    absl::StatusOr<std::vector<std::string>> names = NamesFromJson(st.Text(11));
    if (!names.ok()) return absl::DataLossError(absl::StrCat("job ", job.id, ": ", names.status().message()));
    job.class_names = *std::move(names);
    job.train_images = st.Int(12);
    job.valid_images = st.Int(13);
    job.promotion = st.Text(14);
    job.owner = st.Text(15);
    jobs.push_back(std::move(job));
  }
  if (absl::Status s = st.status(); !s.ok()) return s;
  for (common::JobInfo& job : jobs) {
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
  Statement st(db_,
               "SELECT epoch, train_loss, valid_loss, valid_accuracy, learning_rate, "
               "early_stop_trigger, seconds, images_per_second, data_wait_seconds, is_best, "
               "planned_epochs FROM epochs WHERE job_id=?1 ORDER BY epoch");
  st.Bind(1, job_id);
  std::vector<common::EpochMetrics> epochs;
  while (st.Step()) {
    common::EpochMetrics m;
    m.epoch = st.Int(0);
    m.train_loss = st.Real(1);
    m.valid_loss = st.Real(2);
    m.valid_accuracy = st.Real(3);
    m.learning_rate = st.Real(4);
    m.early_stop_trigger = st.Int(5);
    m.seconds = st.Real(6);
    m.train_images_per_second = st.Real(7);
    m.data_wait_seconds = st.Real(8);
    m.is_best = st.Int(9) != 0;
    m.planned_epochs = st.Int(10);
    epochs.push_back(m);
  }
  if (absl::Status s = st.status(); !s.ok()) return s;
  return epochs;
}

absl::StatusOr<std::vector<common::CheckpointInfo>> JobStore::LoadCheckpoints(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, job_id.empty()
                        ? "SELECT job_id, kind, path, epoch, valid_loss, valid_accuracy, test_accuracy "
                          "FROM checkpoints ORDER BY rowid"
                        : "SELECT job_id, kind, path, epoch, valid_loss, valid_accuracy, test_accuracy "
                          "FROM checkpoints WHERE job_id=?1 ORDER BY rowid");
  if (!job_id.empty()) st.Bind(1, job_id);
  std::vector<common::CheckpointInfo> out;
  while (st.Step()) {
    common::CheckpointInfo c;
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

absl::StatusOr<std::string> JobStore::CheckpointPath(const std::string& job_id, const std::string& kind) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "SELECT path FROM checkpoints WHERE job_id=?1 AND kind=?2");
  st.Bind(1, job_id).Bind(2, kind);
  std::optional<std::string> path;
  if (st.Step()) path = st.Text(0);
  if (absl::Status s = st.status(); !s.ok()) return s;
  if (!path) {
    return absl::NotFoundError(absl::StrCat("no checkpoint ", job_id, "/", kind, "; `catdogctl models` lists them"));
  }
  return *std::move(path);
}

absl::StatusOr<std::vector<ServingRecord>> JobStore::LoadPromotions() {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "SELECT model_id, path FROM promotions ORDER BY seq DESC");
  std::vector<ServingRecord> out;
  absl::flat_hash_set<std::string> seen;
  while (st.Step()) {
    if (seen.insert(st.Text(0)).second) out.push_back({st.Text(0), st.Text(1)});
  }
  if (absl::Status s = st.status(); !s.ok()) return s;
  return out;
}

}  // namespace catdog::server
