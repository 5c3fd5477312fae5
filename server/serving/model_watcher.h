// Serves whatever checkpoint a path holds, and follows it: the model source
// of a serving replica (catdogd --serve-only --model PATH).
//
// PATH is a checkpoint file, or a folder whose newest `*.ckpt` (by
// modification time, then name) is served; names starting with '.' are
// skipped, so a publisher writes `.NAME.tmp` and renames it into place (what
// catdogd --publish-dir does). A file is loaded when its identity (device,
// inode, size, modification time) differs from the last one tried: a
// replaced file swaps the served model (the engine's swap: no request
// fails), a file that does not load is logged and skipped until it changes
// again, and the model being served stays.
//
// Thread-safe. Check() runs one look now, on the calling thread; Start()
// runs it every `interval` on a thread of its own until the watcher is
// destroyed.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace catdog::server {

class ModelWatcher {
 public:
  // Loads and serves one checkpoint file.
  using Load = std::function<absl::Status(const std::string& path)>;

  ModelWatcher(std::string path, absl::Duration interval, Load load);
  ~ModelWatcher();
  ModelWatcher(const ModelWatcher&) = delete;
  ModelWatcher& operator=(const ModelWatcher&) = delete;

  // OK when the current file was loaded now or before; NOT_FOUND when there
  // is none; the load's error when it did not load (now or the last time).
  absl::Status Check() ABSL_LOCKS_EXCLUDED(mu_);
  void Start();

 private:
  struct Identity {
    std::string path;
    unsigned long long device = 0, inode = 0;
    long long size = 0, mtime_ns = 0;
    bool operator==(const Identity& o) const {
      return path == o.path && device == o.device && inode == o.inode && size == o.size && mtime_ns == o.mtime_ns;
    }
  };
  // The file PATH stands for now, or nullopt.
  std::optional<Identity> Current() const;

  const std::string path_;
  const absl::Duration interval_;
  const Load load_;
  absl::Mutex mu_;  // one look at a time
  std::optional<Identity> tried_ ABSL_GUARDED_BY(mu_);
  absl::Status tried_status_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace catdog::server
