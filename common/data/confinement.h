// Reads confined to a folder (catdogd's --data-root): neither ".." nor a
// symlink may lead a read out of it. Links that stay inside are followed.
// A path is checked when it is named (every link resolved) and the file is
// checked again once open (the file actually opened, read back from
// /proc/self/fd), so a link swapped in between reads nothing outside.
//
// Thread-safe (free functions). Messages never say where a link leads.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace catdog::common {

// INVALID_ARGUMENT for a path a client should never send: a NUL byte (the
// C library would silently cut the path there), another control character,
// or more than 4096 bytes. `what` names the path in the message.
absl::Status CheckPathText(absl::string_view path, absl::string_view what);

// True when `path` is `root` or below it; both canonical (no links, no ..).
bool IsWithin(absl::string_view root, absl::string_view path);

// True when `path` exists and, every link resolved, lies within `root`
// (canonical).
bool ResolvesWithin(const std::string& root, const std::string& path);

// Reads a whole regular file that must lie within `root` (canonical).
// PERMISSION_DENIED when it leads outside, NOT_FOUND when it is missing,
// INVALID_ARGUMENT when it is no regular file (a FIFO or device is never
// read, and opening one does not block).
absl::StatusOr<std::string> ReadFileWithin(const std::string& root, const std::string& path);

}  // namespace catdog::common
