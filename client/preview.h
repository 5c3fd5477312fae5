// `catdogctl preview`: the reference notebook's grid of random training
// images with their labels, drawn with OpenCV. Local; no server involved.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace catdog::client {

struct PreviewOptions {
  int rows = 4;
  int cols = 8;
  int tile_size = 128;  // px per image
  uint64_t seed = 42;
};

// Picks rows*cols random images of the ImageFolder at `dataset` (fewer if it
// has fewer), labels each with its class name and writes the grid to `out`
// (PNG or JPEG by extension). Undecodable files are skipped.
absl::Status WritePreviewGrid(const std::string& dataset, const std::string& out,
                              const PreviewOptions& options);

}  // namespace catdog::client
