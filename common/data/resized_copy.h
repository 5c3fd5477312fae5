#pragma once

// A resized JPEG copy of an image tree, small enough to carry to another host
// (README "GPU hosts": the 3200 shared photos at 224 px are about 36 MiB).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace catdog::common {

struct ResizedCopyStats {
  int64_t images = 0;              // written
  int64_t bytes_written = 0;
  int64_t bytes_read = 0;
  std::vector<std::string> failed;  // "relative/path: why", for images that did not decode
};

// Writes every image under `src` (recursively; the extensions ImageFolder
// reads) to the same relative path under `dst`, resized to size x size exactly
// as the training loader resizes at that image size (reduced JPEG decoding,
// then area interpolation), then JPEG-encoded at `quality`. Training at `size`
// on the copy therefore sees the original pixels up to JPEG's rounding. Files
// not named .jpg/.jpeg get ".jpg" appended. Other files are ignored.
// Refuses a `dst` that already holds anything (FailedPrecondition); a write
// that fails (full disk) stops the copy with its path.
absl::StatusOr<ResizedCopyStats> WriteResizedCopy(const std::string& src, const std::string& dst,
                                                  int size, int quality);

}  // namespace catdog::common
