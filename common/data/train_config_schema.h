// The one field table of TrainConfig. Everything that spells out the knobs
// one by one is produced from it: the JSON persistence (train_config.cc), the
// catdog.v1.TrainingConfig conversion (api/training_conversion.cc, by field
// name through protobuf reflection) and the command-line flags
// (train_flags.cc). tests/common/data/train_config_schema_test.cc fails when a
// TrainConfig member is missing from this table or from any of the three.
//
// A new knob: a TrainConfig member, a row in train_config_schema.cc, a field
// in proto/catdog/v1/catdog.proto (and a check in ValidateTrainConfig when it
// has a valid range).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/data/train_config.h"

namespace catdog::common {

// A typed pointer to one member of a TrainConfig.
using TrainConfigFieldRef = std::variant<int*, int64_t*, uint64_t*, double*, bool*, std::string*,
                                         std::array<float, 3>*>;

struct TrainConfigField {
  // JSON path: member names joined by '.', e.g. "preprocessing.image_size".
  const char* name;
  // catdog.v1.TrainingConfig field name; nullptr when the field never
  // travels (server-chosen output folders).
  const char* wire_name;
  // Command-line flag, e.g. "--image-size"; nullptr when it has none (paths
  // the caller spells itself).
  const char* flag;
  const char* help;
  TrainConfigFieldRef (*ref)(TrainConfig&);
  // Allowed values of a string field, for flag checking; empty = any.
  std::vector<std::string> choices = {};
};

// In a fixed order. Thread-safe (built once).
const std::vector<TrainConfigField>& TrainConfigFields();

}  // namespace catdog::common
