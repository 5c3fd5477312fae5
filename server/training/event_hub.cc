#include "server/training/event_hub.h"

#include <algorithm>

namespace catdog::server {
namespace {

void CallAll(const std::vector<EventHub::Wake>& wakes) {
  for (const EventHub::Wake& wake : wakes) wake();
}

}  // namespace

EventHub::Log& EventHub::LogLocked(const std::string& job_id) {
  std::unique_ptr<Log>& log = logs_[job_id];
  if (log == nullptr) log = std::make_unique<Log>();
  return *log;
}

std::vector<EventHub::Wake> EventHub::WakesLocked(const std::string& job_id) const {
  std::vector<Wake> wakes;
  auto it = logs_.find(job_id);
  if (it == logs_.end()) return wakes;
  for (const auto& [handle, wake] : it->second->subscribers) wakes.push_back(wake);
  return wakes;
}

void EventHub::Open(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  LogLocked(job_id).closed = false;
}

int64_t EventHub::Publish(const std::string& job_id, common::JobEvent::Payload payload) {
  std::vector<Wake> wakes;
  int64_t sequence = 0;
  {
    absl::MutexLock lock(&mu_);
    Log& log = LogLocked(job_id);
    if (log.closed) return 0;
    sequence = static_cast<int64_t>(log.events.size()) + 1;
    log.events.push_back(common::JobEvent{sequence, std::move(payload)});
    wakes = WakesLocked(job_id);
  }
  // Outside the lock: a woken reader polls at once.
  CallAll(wakes);
  return sequence;
}

void EventHub::Close(const std::string& job_id) {
  std::vector<Wake> wakes;
  {
    absl::MutexLock lock(&mu_);
    auto it = logs_.find(job_id);
    if (it == logs_.end()) return;
    it->second->closed = true;
    wakes = WakesLocked(job_id);
  }
  CallAll(wakes);
}

EventHub::ReadResult EventHub::Poll(const std::string& job_id, int64_t after, size_t max_events) const {
  ReadResult result;
  absl::MutexLock lock(&mu_);
  auto it = logs_.find(job_id);
  if (it == logs_.end()) return result;
  const Log& log = *it->second;
  result.found = true;
  const size_t begin = static_cast<size_t>(std::clamp<int64_t>(after, 0, log.events.size()));
  const size_t end = begin + std::min(max_events, log.events.size() - begin);
  result.events.assign(log.events.begin() + begin, log.events.begin() + end);
  result.closed = log.closed && end == log.events.size();
  return result;
}

int64_t EventHub::Subscribe(const std::string& job_id, Wake wake) {
  absl::MutexLock lock(&mu_);
  const int64_t handle = next_handle_++;
  LogLocked(job_id).subscribers.emplace(handle, std::move(wake));
  return handle;
}

void EventHub::Unsubscribe(const std::string& job_id, int64_t handle) {
  absl::MutexLock lock(&mu_);
  auto it = logs_.find(job_id);
  if (it != logs_.end()) it->second->subscribers.erase(handle);
}

void EventHub::Shutdown() {
  std::vector<Wake> wakes;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    for (const auto& [id, log] : logs_) {
      for (const auto& [handle, wake] : log->subscribers) wakes.push_back(wake);
    }
  }
  CallAll(wakes);
}

bool EventHub::shutting_down() const {
  absl::MutexLock lock(&mu_);
  return shutdown_;
}

}  // namespace catdog::server
