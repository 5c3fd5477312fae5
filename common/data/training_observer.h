// Callbacks from a training run, and the stop token that cancels one.
#pragma once

#include <atomic>
#include <string>

#include "common/data/metrics.h"

namespace catdog::common {

enum class CheckpointKind { kBest, kLast };
const char* CheckpointKindName(CheckpointKind kind);  // "best" / "last"

// Called on the training thread, in order. Implementations must not throw
// and should return quickly (they delay the next batch).
class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;
  virtual void OnProgress(const Progress& progress) {}
  virtual void OnEpochEnd(const EpochMetrics& metrics) {}
  // A checkpoint was written completely (atomically) to `path`.
  virtual void OnCheckpoint(CheckpointKind kind, const std::string& path,
                            const EpochMetrics& metrics) {}
  virtual void OnTestEvaluation(CheckpointKind kind, const EvalMetrics& metrics) {}
};

// Set from any thread; the trainer checks it between batches.
class StopToken {
 public:
  void RequestStop() { stop_.store(true, std::memory_order_release); }
  bool stop_requested() const { return stop_.load(std::memory_order_acquire); }
  // For a token reused by a new run (a resumed job); not while one runs.
  void Reset() { stop_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> stop_{false};
};

}  // namespace catdog::common
