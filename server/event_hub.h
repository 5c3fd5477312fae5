// Per-job event logs. A job's events are appended in order with sequence
// numbers 1, 2, ...; any number of readers, joining at any time, read from
// any sequence onwards (a late watcher first gets the replay of everything
// recorded, then live events). A log is closed when its job ends.
//
// Thread-safe. Readers block in Read() on a condition, never by polling.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/job.h"

namespace catdog::server {

class EventHub {
 public:
  struct ReadResult {
    bool found = false;   // the job has a log
    bool closed = false;  // no event will follow the ones returned
    std::vector<JobEvent> events;
  };

  // Creates the job's log (no-op if present).
  void Open(const std::string& job_id) ABSL_LOCKS_EXCLUDED(mu_);
  // Appends an event; ignored after Close. Returns its sequence number.
  int64_t Publish(const std::string& job_id, JobEvent::Payload payload) ABSL_LOCKS_EXCLUDED(mu_);
  void Close(const std::string& job_id) ABSL_LOCKS_EXCLUDED(mu_);

  // Events with sequence > `after`, waiting until there is one, the log is
  // closed, Shutdown() is called or `deadline` passes (then `events` may be
  // empty with closed == false).
  ReadResult Read(const std::string& job_id, int64_t after, absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Wakes every reader; later reads return at once.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);
  bool shutting_down() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Log {
    std::vector<JobEvent> events;
    bool closed = false;
  };

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Log>> logs_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace catdog::server
