#include "common/data/scheduling.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace catdog::common {
namespace {

// PRIO_PROCESS with a thread id addresses that one thread on Linux.
id_t ThisThread() { return static_cast<id_t>(syscall(SYS_gettid)); }

}  // namespace

absl::StatusOr<int> ThreadNice() {
  errno = 0;  // -1 is a valid nice value: only errno tells an error
  const int nice = getpriority(PRIO_PROCESS, ThisThread());
  if (nice == -1 && errno != 0) return absl::InternalError(absl::StrCat("getpriority: ", std::strerror(errno)));
  return nice;
}

absl::Status SetThreadNice(int nice) {
  if (nice < -20 || nice > 19) {
    return absl::InvalidArgumentError(absl::StrCat("nice value ", nice, " is outside -20..19"));
  }
  if (setpriority(PRIO_PROCESS, ThisThread(), nice) == 0) return absl::OkStatus();
  if (errno == EPERM || errno == EACCES) {
    rlimit limit{};
    getrlimit(RLIMIT_NICE, &limit);
    return absl::PermissionDeniedError(absl::StrCat(
        "nice ", nice, " needs CAP_SYS_NICE or RLIMIT_NICE >= ", 20 - nice, " (it is ",
        limit.rlim_cur == RLIM_INFINITY ? std::string("unlimited") : absl::StrCat(limit.rlim_cur),
        "; systemd: LimitNICE=", nice, ", docker run: --ulimit nice=", 20 - nice, ")"));
  }
  return absl::InternalError(absl::StrCat("setpriority: ", std::strerror(errno)));
}

}  // namespace catdog::common
