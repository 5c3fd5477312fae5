// Dynamic batcher: coalesces concurrent classification items into one
// forward pass, up to max_batch_size items, waiting at most max_queue_delay
// after the oldest queued item arrived. Items whose deadline passed or whose
// caller went away are dropped from the queue, not computed. A batch only
// mixes items of one serving model, so a model swap never changes the model
// an item was preprocessed for.
//
// Thread-safe. One batcher thread, started by Create and joined by Shutdown
// (or the destructor). Enqueue: RESOURCE_EXHAUSTED when the queue is full,
// UNAVAILABLE after Shutdown began.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/ml/classifier.h"
#include "server/serving/model_registry.h"

namespace catdog::server {

class IntraOpThreadGovernor;

struct InferenceItem {
  std::shared_ptr<const ServingModel> model;
  cv::Mat image;  // from model->classifier->Preprocess
  absl::Time deadline = absl::InfiniteFuture();
  std::function<bool()> cancelled;  // optional: true once the caller went away
  // Called exactly once, on the batcher thread (or in Enqueue's caller when
  // rejected). Must not block.
  std::function<void(absl::StatusOr<common::Prediction>)> done;
};

// One forward pass, for metrics.
struct BatchTiming {
  int size = 0;
  int threads = 0;                          // intra-op threads it ran on
  absl::Duration compute;                   // the forward pass
  std::vector<absl::Duration> queue_waits;  // each item's time in the queue
};

struct BatcherOptions {
  int max_batch_size = 32;
  absl::Duration max_queue_delay = absl::ZeroDuration();  // 0: flush when idle
  int max_queue_size = 1024;  // items
  // The forward pass; defaults to model.classifier->Predict. Tests replace it.
  using Predict = std::function<absl::StatusOr<std::vector<common::Prediction>>(
      const ServingModel&, const std::vector<cv::Mat>&)>;
  Predict predict;
  // Intra-op threads of the forward pass, set on the batcher thread (the
  // count is per thread); 0 = the count that thread starts with.
  int intra_op_threads = 0;
  // Fewer of them while other threads hold the cores (IntraOpThreadGovernor),
  // where the kernel reports run-queue waits.
  bool adapt_threads = true;
  // Called on the batcher thread after each forward pass; optional, must
  // not block.
  std::function<void(const BatchTiming&)> on_batch;
};

struct BatcherStats {
  int64_t images = 0;   // items computed
  int64_t batches = 0;  // forward passes
  std::map<int, int64_t> batch_sizes;  // size -> count
  int64_t queue_depth = 0;
  int64_t rejected = 0;  // refused by Enqueue
  int64_t expired = 0;   // dropped: deadline passed or caller gone
};

// "Flush now, or wait until when": a pure function of the queue and the
// clock, so it is tested without threads.
struct BatchDecision {
  bool flush = false;
  absl::Time wake_at = absl::InfiniteFuture();  // when !flush
};
BatchDecision DecideBatch(size_t queued, absl::Time oldest_enqueued, absl::Time now,
                          const BatcherOptions& options);

class DynamicBatcher {
 public:
  static absl::StatusOr<std::unique_ptr<DynamicBatcher>> Create(BatcherOptions options);
  ~DynamicBatcher();
  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // Queues all items or none.
  absl::Status Enqueue(std::vector<InferenceItem> items) ABSL_LOCKS_EXCLUDED(mu_);
  // Whether `items` more would fit in the queue now (Enqueue decides).
  bool HasRoomFor(size_t items) const ABSL_LOCKS_EXCLUDED(mu_);
  // Stops accepting items, computes those already queued, joins the thread.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);
  BatcherStats stats() const ABSL_LOCKS_EXCLUDED(mu_);
  const BatcherOptions& options() const { return options_; }

 private:
  struct Queued {
    InferenceItem item;
    absl::Time enqueued;
  };
  explicit DynamicBatcher(BatcherOptions options);
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);
  // Waits for and removes the next batch (one model), moving dead items to
  // `dropped`. Returns false when stopping with an empty queue.
  bool TakeBatch(std::vector<Queued>* batch, std::vector<Queued>* dropped) ABSL_LOCKS_EXCLUDED(mu_);
  void RunBatch(std::vector<Queued>& batch, IntraOpThreadGovernor* governor) ABSL_LOCKS_EXCLUDED(mu_);

  const BatcherOptions options_;

  mutable absl::Mutex mu_;
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  BatcherStats stats_ ABSL_GUARDED_BY(mu_);

  std::thread thread_;  // last: starts after the state above exists
};

}  // namespace catdog::server
