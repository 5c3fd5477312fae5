// Per-job event logs. A job's events are appended in order with sequence
// numbers 1, 2, ...; any number of readers, joining at any time, read from
// any sequence onwards (a late watcher first gets the replay of everything
// recorded, then live events). A log is closed when its job ends.
//
// Readers never block and never poll: they Poll() what is there and
// Subscribe() to be woken when more arrives.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/data/job.h"

namespace catdog::server {

class EventHub {
 public:
  struct ReadResult {
    bool found = false;   // the job has a log
    bool closed = false;  // no event will follow the ones returned
    std::vector<common::JobEvent> events;
  };
  using Wake = std::function<void()>;

  // Creates the job's log, or opens a closed one again (a resumed job: its
  // events continue the same sequence).
  void Open(const std::string& job_id) ABSL_LOCKS_EXCLUDED(mu_);
  // Appends an event; ignored after Close. Returns its sequence number.
  int64_t Publish(const std::string& job_id, common::JobEvent::Payload payload) ABSL_LOCKS_EXCLUDED(mu_);
  void Close(const std::string& job_id) ABSL_LOCKS_EXCLUDED(mu_);

  // Events with sequence > `after`, at most `max_events`, without waiting.
  ReadResult Poll(const std::string& job_id, int64_t after, size_t max_events = SIZE_MAX) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Calls `wake` after every Publish or Close of the job's log and once at
  // Shutdown, on the calling thread, outside the hub's lock; `wake` must not
  // block. A call may still be running when Unsubscribe returns, so `wake`
  // must keep what it touches alive itself. Returns a handle for Unsubscribe.
  int64_t Subscribe(const std::string& job_id, Wake wake) ABSL_LOCKS_EXCLUDED(mu_);
  void Unsubscribe(const std::string& job_id, int64_t handle) ABSL_LOCKS_EXCLUDED(mu_);

  // Wakes every subscriber; from now on readers see shutting_down().
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);
  bool shutting_down() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Log {
    std::vector<common::JobEvent> events;
    bool closed = false;
    absl::flat_hash_map<int64_t, Wake> subscribers;
  };
  // Copies of the job's wake callbacks, to call once the lock is released.
  std::vector<Wake> WakesLocked(const std::string& job_id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Log& LogLocked(const std::string& job_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Log>> logs_ ABSL_GUARDED_BY(mu_);
  int64_t next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace catdog::server
