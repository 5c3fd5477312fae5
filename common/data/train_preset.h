// Training recipes by name. A preset is a set of TrainConfig field values and
// nothing more: every choice it makes is an ordinary field (and flag) that an
// explicit value overrides.
//
//   reference  the notebook's recipe: TrainConfig's defaults.
//   fast       for small datasets and small machines (README "Training
//              recipes"): a half-width VGG16 (a quarter of the compute per
//              image), AdamW at a higher peak rate with a warmup and a cosine
//              decay, label smoothing, random resized crops, flips and colour
//              jitter, the training split's own mean/std, mirror test-time
//              augmentation, batch 32.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "common/data/train_config.h"
#include "common/data/train_config_schema.h"

namespace catdog::common {

// Sets config.preset = name and every field the preset chooses, except those
// `keep` returns true for (values the user gave). INVALID_ARGUMENT for an
// unknown name, leaving config unchanged.
absl::Status ApplyTrainPreset(const std::string& name, TrainConfig& config,
                              const std::function<bool(const TrainConfigField&)>& keep = nullptr);

}  // namespace catdog::common
