// The model card stored in every checkpoint: what a server needs to serve
// the weights (classes, preprocessing, architecture) and what a person needs
// to trust them (epoch, metrics, training config, creation time).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/metrics.h"
#include "common/data/train_config.h"

namespace catdog::common {

struct ModelCard {
  static constexpr int kFormatVersion = 1;

  int format_version = kFormatVersion;
  std::string arch = "vgg16";
  double width = 1.0;
  std::vector<std::string> class_names;
  Preprocessing preprocessing;
  std::string kind;  // "best" or "last"
  EpochMetrics metrics;  // of the epoch these weights come from
  std::string train_config_json;
  std::string created_at;  // RFC 3339, UTC
  int64_t parameter_count = 0;
  // "crc32:<8 hex digits>" over the state dict's tensors (sorted by name,
  // raw bytes), checked on every load. Empty in checkpoints written before
  // it existed, which load unchecked.
  std::string weights_checksum;
};

std::string ModelCardToJson(const ModelCard& card);
absl::StatusOr<ModelCard> ModelCardFromJson(const std::string& json);

}  // namespace catdog::common
