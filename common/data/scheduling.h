// Per-thread CPU priority (Linux nice values are per thread; a new thread
// starts with its creator's).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace catdog::common {

// The calling thread's nice value (-20 highest priority .. 19 lowest).
absl::StatusOr<int> ThreadNice();

// Sets the calling thread's nice value; threads it starts later inherit it,
// threads that exist already keep theirs. Raising it is always allowed;
// lowering it needs CAP_SYS_NICE or a RLIMIT_NICE that reaches it
// (PERMISSION_DENIED otherwise, saying so).
absl::Status SetThreadNice(int nice);

}  // namespace catdog::common
