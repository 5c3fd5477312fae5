// JSON forms of the core's records (internal to common/data/*.cc). TrainConfig's
// comes from its field table (train_config_schema.h). Field names
// are the member names; keys missing from stored JSON keep their defaults,
// so rows and checkpoints written by older builds still load.
#pragma once

#include <nlohmann/json.hpp>

#include "common/data/metrics.h"
#include "common/data/model_card.h"
#include "common/data/train_config.h"  // Preprocessing, AugmentOptions

namespace catdog::common {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Preprocessing, image_size, normalize, mean, std, tta_flip)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(AugmentOptions, flip_probability, crop_padding,
                                                rotation_degrees, grayscale_probability, crop_scale_min,
                                                color_jitter)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EpochMetrics, epoch, train_loss, valid_loss,
                                                valid_accuracy, learning_rate, early_stop_trigger,
                                                seconds, train_images_per_second,
                                                data_wait_seconds, is_best, planned_epochs)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EvalMetrics, loss, accuracy, count, confusion,
                                                precision, recall)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ModelCard, format_version, arch, width,
                                                class_names, preprocessing, kind, metrics,
                                                train_config_json, created_at, parameter_count,
                                                weights_checksum)

// Parses `text` as T; INVALID_ARGUMENT naming `what` on failure.
template <typename T>
absl::StatusOr<T> ParseJson(const std::string& text, const char* what) {
  try {
    return nlohmann::json::parse(text).get<T>();
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(std::string("bad ") + what + " JSON: " + e.what());
  }
}

}  // namespace catdog::common
