#include "server/serving/intra_op_governor.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>

namespace catdog::server {

std::optional<absl::Duration> ThreadRunQueueWait() {
  // "<ns on a CPU> <ns waiting in the run queue> <timeslices>"
  std::FILE* f = std::fopen("/proc/thread-self/schedstat", "r");
  if (f == nullptr) return std::nullopt;
  unsigned long long running = 0, waiting = 0;
  const bool parsed = std::fscanf(f, "%llu %llu", &running, &waiting) == 2;
  std::fclose(f);
  if (!parsed) return std::nullopt;
  return absl::Nanoseconds(static_cast<int64_t>(waiting));
}

IntraOpThreadGovernor::IntraOpThreadGovernor(Options options)
    : options_(options), threads_(std::max(1, options.max_threads)) {}

int IntraOpThreadGovernor::Observe(absl::Duration wall, absl::Duration waited, absl::Time now) {
  if (wall <= absl::ZeroDuration()) return threads_;
  const double share = std::clamp(absl::FDivDuration(waited, wall), 0.0, 1.0);
  waiting_share_ = options_.smoothing * share + (1.0 - options_.smoothing) * waiting_share_;
  const int wanted = std::clamp(
      static_cast<int>(std::lround(std::max(1, options_.max_threads) * (1.0 - waiting_share_))), 1,
      std::max(1, options_.max_threads));
  if (wanted != threads_ && now - last_change_ >= options_.min_dwell) {
    threads_ = wanted;
    last_change_ = now;
  }
  return threads_;
}

}  // namespace catdog::server
