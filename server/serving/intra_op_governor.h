// How many intra-op threads the serving forward pass should use while other
// threads compete for the cores.
//
// An OpenMP team meets at a barrier after every parallel region (dozens per
// VGG forward pass), so when other processes hold the cores, one descheduled
// member stalls the whole team: one 64 px image took 6 ms alone and 17-23 ms
// with two threads beside a two-process CPU hog, but 12-17 ms with one
// (BENCHMARKS.md, fair sharing). The governor watches how long the batcher
// thread itself waited in the run queue during each pass (the kernel's
// schedstat) and sizes the team to the share of the CPU it actually got;
// with the cores free again it returns to the full count.
#pragma once

#include <optional>

#include "absl/time/time.h"

namespace catdog::server {

// Total time the calling thread has spent runnable but waiting for a CPU
// (Linux /proc/thread-self/schedstat); nullopt where the kernel does not
// report it.
std::optional<absl::Duration> ThreadRunQueueWait();

class IntraOpThreadGovernor {
 public:
  struct Options {
    int max_threads = 1;
    double smoothing = 0.3;  // weight of the newest pass in the running share
    absl::Duration min_dwell = absl::Seconds(1);  // between two changes: each costs a slow pass
  };
  explicit IntraOpThreadGovernor(Options options);

  int threads() const { return threads_; }
  // One pass took `wall`, `waited` of it in the run queue. Returns the thread
  // count for the next pass: max_threads times the share of the CPU the
  // passes got lately, rounded, at least 1.
  int Observe(absl::Duration wall, absl::Duration waited, absl::Time now);

 private:
  const Options options_;
  int threads_;
  double waiting_share_ = 0.0;  // smoothed
  absl::Time last_change_ = absl::InfinitePast();
};

}  // namespace catdog::server
