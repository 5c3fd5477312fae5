#include "server/event_hub.h"

namespace catdog::server {

void EventHub::Open(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  auto& log = logs_[job_id];
  if (log == nullptr) log = std::make_unique<Log>();
}

int64_t EventHub::Publish(const std::string& job_id, JobEvent::Payload payload) {
  absl::MutexLock lock(&mu_);
  auto& log = logs_[job_id];
  if (log == nullptr) log = std::make_unique<Log>();
  if (log->closed) return 0;
  const int64_t sequence = static_cast<int64_t>(log->events.size()) + 1;
  log->events.push_back(JobEvent{sequence, std::move(payload)});
  return sequence;
}

void EventHub::Close(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  auto it = logs_.find(job_id);
  if (it != logs_.end()) it->second->closed = true;
}

EventHub::ReadResult EventHub::Read(const std::string& job_id, int64_t after, absl::Time deadline) {
  ReadResult result;
  absl::MutexLock lock(&mu_);
  auto it = logs_.find(job_id);
  if (it == logs_.end()) return result;
  result.found = true;
  // Logs are never erased, so the pointer stays valid while we wait.
  const Log* log = it->second.get();
  auto ready = [this, log, after]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return shutdown_ || log->closed || static_cast<int64_t>(log->events.size()) > after;
  };
  mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  const auto begin = static_cast<size_t>(std::max<int64_t>(after, 0));
  for (size_t i = begin; i < log->events.size(); ++i) result.events.push_back(log->events[i]);
  result.closed = log->closed;
  return result;
}

void EventHub::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
}

bool EventHub::shutting_down() const {
  absl::MutexLock lock(&mu_);
  return shutdown_;
}

}  // namespace catdog::server
