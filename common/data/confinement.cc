#include "common/data/confinement.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace catdog::common {
namespace {

constexpr size_t kMaxPathBytes = 4096;

absl::Status OpenError(const std::string& path, int err) {
  const std::string why = absl::StrCat(path, ": ", std::strerror(err));
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(why);
  if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(why);
  return absl::UnavailableError(why);
}

absl::Status Outside(const std::string& path) {
  return absl::PermissionDeniedError(absl::StrCat(path, ": a link that leads outside the data root"));
}

}  // namespace

absl::Status CheckPathText(absl::string_view path, absl::string_view what) {
  if (path.size() > kMaxPathBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " of ", path.size(), " bytes; paths are at most ", kMaxPathBytes));
  }
  for (const char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " contains a ", c == 0 ? "NUL byte" : "control character", "; paths may not"));
    }
  }
  return absl::OkStatus();
}

bool IsWithin(absl::string_view root, absl::string_view path) {
  if (path.size() < root.size() || path.compare(0, root.size(), root) != 0) return false;
  return path.size() == root.size() || root.back() == '/' || path[root.size()] == '/';
}

bool ResolvesWithin(const std::string& root, const std::string& path) {
  char resolved[PATH_MAX];
  return ::realpath(path.c_str(), resolved) != nullptr && IsWithin(root, resolved);
}

absl::StatusOr<std::string> ReadFileWithin(const std::string& root, const std::string& path) {
  // Checked before opening, so a link to a device outside is never opened
  // (opening some devices has effects).
  if (!ResolvesWithin(root, path)) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return OpenError(path, errno);
    return Outside(path);
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return OpenError(path, errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // What was opened, not what the name says now.
  char opened[PATH_MAX];
  const std::string link = absl::StrCat("/proc/self/fd/", fd);
  const ssize_t n = ::readlink(link.c_str(), opened, sizeof(opened) - 1);
  if (n <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot check where ", path, " leads (is /proc mounted?): ", std::strerror(errno)));
  }
  if (!IsWithin(root, absl::string_view(opened, static_cast<size_t>(n)))) return Outside(path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return OpenError(path, errno);
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  std::string bytes;
  bytes.reserve(static_cast<size_t>(st.st_size));
  char buffer[1 << 16];
  while (true) {
    const ssize_t got = ::read(fd, buffer, sizeof(buffer));
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::DataLossError(absl::StrCat(path, ": read failed: ", std::strerror(errno)));
    }
    bytes.append(buffer, static_cast<size_t>(got));
  }
  return bytes;
}

}  // namespace catdog::common
