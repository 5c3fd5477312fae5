// JSON forms of the core's records (internal to common/*.cc). Field names
// are the member names; keys missing from stored JSON keep their defaults,
// so rows and checkpoints written by older builds still load.
#pragma once

#include <nlohmann/json.hpp>

#include "common/metrics.h"
#include "common/model_card.h"
#include "common/train_config.h"

namespace catdog::common {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Preprocessing, image_size, normalize, mean, std)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(AugmentOptions, flip_probability, crop_padding,
                                                rotation_degrees, grayscale_probability)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TrainConfig, dataset_root, test_root,
                                                valid_fraction, split_seed, preprocessing, augment,
                                                arch, width, batch_size, epochs, learning_rate,
                                                weight_decay, lr_factor, lr_patience,
                                                early_stop_patience, seed, device, threads,
                                                loader_workers, prefetch_batches, cache_budget_mb,
                                                precision, progress_interval, output_dir, tensorboard_dir)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EpochMetrics, epoch, train_loss, valid_loss,
                                                valid_accuracy, learning_rate, early_stop_trigger,
                                                seconds, train_images_per_second,
                                                data_wait_seconds, is_best)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EvalMetrics, loss, accuracy, count, confusion,
                                                precision, recall)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ModelCard, format_version, arch, width,
                                                class_names, preprocessing, kind, metrics,
                                                train_config_json, created_at, parameter_count)

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
