// Domain records of the job manager: job state machine, job specs and
// snapshots, and the events a job publishes. No gRPC, no LibTorch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/data/metrics.h"
#include "common/data/train_config.h"

namespace catdog::common {

// QUEUED -> RUNNING -> SUCCEEDED | FAILED | CANCELLED | INTERRUPTED;
// QUEUED -> CANCELLED. Queued jobs survive a restart (queued again).
enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled, kInterrupted };

const char* JobStateName(JobState state);  // "QUEUED", ...
std::optional<JobState> JobStateFromName(const std::string& name);
bool IsTerminal(JobState state);

// What a client asks for. The dataset paths inside `config` stay relative
// to the server's data root; the job manager resolves them for each run.
struct JobSpec {
  TrainConfig config;
  bool auto_promote = true;
};

struct TestEvaluation {
  std::string kind;  // "best" / "last"
  EvalMetrics metrics;
};

// A point-in-time copy of a job.
struct JobInfo {
  std::string id;
  JobState state = JobState::kQueued;
  JobSpec spec;  // defaults filled in; dataset paths relative to the data root
  int64_t created_unix_ms = 0;
  int64_t started_unix_ms = 0;
  int64_t finished_unix_ms = 0;
  std::string error;
  int64_t epochs_completed = 0;
  int64_t best_epoch = 0;
  double best_valid_accuracy = 0.0;
  std::vector<TestEvaluation> test;
  std::vector<std::string> class_names;
  int64_t train_images = 0;
  int64_t valid_images = 0;
  // What auto-promote did with the job's best checkpoint, and why; empty
  // until the job succeeded (or with auto-promote off).
  std::string promotion;
  // The name of the token that started the job; empty when tokens are off.
  std::string owner;
  // The newest epoch's metrics while the job runs (not stored: the history
  // is in the job store).
  std::optional<EpochMetrics> last_epoch;
};

struct StateChange {
  JobState state;
  std::string error;
};

struct JobEvent {
  int64_t sequence = 0;  // 1, 2, ... within a job
  using Payload = std::variant<StateChange, EpochMetrics, Progress, TestEvaluation>;
  Payload payload;
};

// A checkpoint file a job wrote, as recorded in the job store.
struct CheckpointInfo {
  std::string job_id;
  std::string kind;  // "best" / "last"
  std::string path;
  EpochMetrics metrics;
  std::optional<double> test_accuracy;
};

}  // namespace catdog::common
