#include "server/serving/dynamic_batcher.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "common/ml/device.h"
#include "server/serving/intra_op_governor.h"

namespace catdog::server {

BatchDecision DecideBatch(size_t queued, absl::Time oldest_enqueued, absl::Time now,
                          const BatcherOptions& options) {
  if (queued == 0) return {};
  const absl::Time due = oldest_enqueued + options.max_queue_delay;
  if (queued >= static_cast<size_t>(options.max_batch_size) || now >= due) return {true, now};
  return {false, due};
}

absl::StatusOr<std::unique_ptr<DynamicBatcher>> DynamicBatcher::Create(BatcherOptions options) {
  if (options.max_batch_size < 1) return absl::InvalidArgumentError("max batch size must be >= 1");
  if (options.max_queue_size < options.max_batch_size) {
    return absl::InvalidArgumentError("max queue size must be >= max batch size");
  }
  if (options.max_queue_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("max queue delay must be >= 0");
  }
  if (!options.predict) {
    options.predict = [](const ServingModel& model, const std::vector<cv::Mat>& images) {
      return model.classifier->Predict(images);
    };
  }
  return std::unique_ptr<DynamicBatcher>(new DynamicBatcher(std::move(options)));
}

DynamicBatcher::DynamicBatcher(BatcherOptions options) : options_(std::move(options)) {
  thread_ = std::thread([this] { Loop(); });
}

DynamicBatcher::~DynamicBatcher() { Shutdown(); }

void DynamicBatcher::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status DynamicBatcher::Enqueue(std::vector<InferenceItem> items) {
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      refused = absl::UnavailableError("server is shutting down");
    } else if (queue_.size() + items.size() > static_cast<size_t>(options_.max_queue_size)) {
      refused = absl::ResourceExhaustedError(absl::StrCat(
          "inference queue full (", queue_.size(), " of ", options_.max_queue_size,
          " images queued); retry later"));
    }
    if (refused.ok()) {
      const absl::Time now = absl::Now();
      for (InferenceItem& item : items) queue_.push_back({std::move(item), now});
      stats_.queue_depth = static_cast<int64_t>(queue_.size());
      return absl::OkStatus();
    }
    stats_.rejected += static_cast<int64_t>(items.size());
  }
  return refused;
}

bool DynamicBatcher::TakeBatch(std::vector<Queued>* batch, std::vector<Queued>* dropped) {
  absl::MutexLock lock(&mu_);
  const size_t max = static_cast<size_t>(options_.max_batch_size);
  while (true) {
    auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
    mu_.Await(absl::Condition(&has_work));
    if (queue_.empty()) return false;  // stopping, nothing left to drain
    const BatchDecision decision = DecideBatch(queue_.size(), queue_.front().enqueued, absl::Now(), options_);
    if (decision.flush || stopping_) break;
    // Wake early only for a full batch or shutdown; the deadline covers the rest.
    auto full = [this, max]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || queue_.size() >= max;
    };
    mu_.AwaitWithDeadline(absl::Condition(&full), decision.wake_at);
  }
  const absl::Time now = absl::Now();
  const ServingModel* model = queue_.front().item.model.get();
  for (auto it = queue_.begin(); it != queue_.end() && batch->size() < max;) {
    const InferenceItem& item = it->item;
    if (item.deadline < now || (item.cancelled && item.cancelled())) {
      dropped->push_back(std::move(*it));
      it = queue_.erase(it);
    } else if (item.model.get() == model) {
      batch->push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;  // another model's item: a later batch
    }
  }
  stats_.queue_depth = static_cast<int64_t>(queue_.size());
  stats_.expired += static_cast<int64_t>(dropped->size());
  return true;
}

void DynamicBatcher::RunBatch(std::vector<Queued>& batch, IntraOpThreadGovernor* governor) {
  std::vector<cv::Mat> images;
  images.reserve(batch.size());
  for (const Queued& q : batch) images.push_back(q.item.image);
  const int threads = common::IntraOpThreads();
  const std::optional<absl::Duration> waited_before = governor ? ThreadRunQueueWait() : std::nullopt;
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<common::Prediction>> predictions =
      options_.predict(*batch.front().item.model, images);
  const absl::Time end = absl::Now();
  if (waited_before) {
    if (const std::optional<absl::Duration> waited_after = ThreadRunQueueWait()) {
      const int next = governor->Observe(end - start, *waited_after - *waited_before, end);
      if (next != threads) {
        common::ConfigureThreads(next);
        spdlog::debug("serving forward passes now on {} intra-op thread(s), was {}", next, threads);
      }
    }
  }
  if (options_.on_batch) {
    BatchTiming timing{static_cast<int>(batch.size()), threads, end - start, {}};
    for (const Queued& q : batch) timing.queue_waits.push_back(start - q.enqueued);
    options_.on_batch(timing);
  }
  if (predictions.ok() && predictions->size() != batch.size()) {
    predictions = absl::InternalError("model returned a wrong number of predictions");
  }
  {
    absl::MutexLock lock(&mu_);
    stats_.images += static_cast<int64_t>(batch.size());
    stats_.batches += 1;
    stats_.batch_sizes[static_cast<int>(batch.size())] += 1;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (predictions.ok()) {
      batch[i].item.done(std::move((*predictions)[i]));
    } else {
      batch[i].item.done(predictions.status());
    }
  }
}

void DynamicBatcher::Loop() {
  const int threads = options_.intra_op_threads > 0 ? common::ConfigureThreads(options_.intra_op_threads)
                                                    : common::IntraOpThreads();
  std::optional<IntraOpThreadGovernor> governor;
  if (options_.adapt_threads && threads > 1 && ThreadRunQueueWait()) {
    governor.emplace(IntraOpThreadGovernor::Options{threads});
  }
  while (true) {
    std::vector<Queued> batch, dropped;
    if (!TakeBatch(&batch, &dropped)) return;
    // Callbacks run outside the lock: they wake handler threads, which
    // should not immediately block on mu_.
    for (Queued& q : dropped) {
      const bool cancelled = q.item.cancelled && q.item.cancelled();
      q.item.done(cancelled ? absl::CancelledError("caller went away")
                            : absl::DeadlineExceededError("deadline passed while queued"));
    }
    if (!batch.empty()) RunBatch(batch, governor ? &*governor : nullptr);
  }
}

bool DynamicBatcher::HasRoomFor(size_t items) const {
  absl::MutexLock lock(&mu_);
  return queue_.size() + items <= static_cast<size_t>(options_.max_queue_size);
}

BatcherStats DynamicBatcher::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace catdog::server
