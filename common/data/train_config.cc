#include "common/data/train_config.h"

#include <algorithm>
#include <cmath>
#include <variant>

#include "absl/strings/str_cat.h"
#include "common/data/json_schema.h"
#include "common/data/precision.h"
#include "common/data/train_config_schema.h"

namespace catdog::common {
namespace {

// "preprocessing.image_size" -> "/preprocessing/image_size".
nlohmann::json::json_pointer JsonPointer(const TrainConfigField& field) {
  std::string pointer = "/";
  for (const char* p = field.name; *p != '\0'; ++p) pointer += *p == '.' ? '/' : *p;
  return nlohmann::json::json_pointer(pointer);
}

absl::Status Bad(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

}  // namespace

int EvalImageSize(const TrainConfig& config) {
  return static_cast<int>(std::lround(config.eval_scale * config.preprocessing.image_size));
}

absl::Status ValidateTrainConfig(const TrainConfig& c) {
  if (c.dataset_root.empty()) return Bad("dataset_root", "is required");
  if (!(c.valid_fraction > 0.0 && c.valid_fraction < 1.0)) {
    return Bad("valid_fraction", absl::StrCat("must be in (0, 1), got ", c.valid_fraction));
  }
  if (c.preprocessing.image_size < 32 || c.preprocessing.image_size > 1024) {
    return Bad("image_size",
               absl::StrCat("must be in [32, 1024] px (five 2x2 poolings), got ",
                            c.preprocessing.image_size));
  }
  if (!(c.eval_scale >= 0.5 && c.eval_scale <= 2.0)) {
    return Bad("eval_scale", absl::StrCat("must be in [0.5, 2], got ", c.eval_scale));
  }
  if (EvalImageSize(c) < 32 || EvalImageSize(c) > 1024) {
    return Bad("eval_scale", absl::StrCat("makes the evaluation size ", EvalImageSize(c), " px, outside [32, 1024]"));
  }
  for (float s : c.preprocessing.std) {
    if (c.preprocessing.normalize && !(s > 0.0f)) return Bad("normalize_std", "must be > 0");
  }
  if (absl::Status s = ValidateAugmentOptions(c.augment); !s.ok()) return s;
  if (c.arch != "vgg16") return Bad("arch", absl::StrCat("unknown architecture '", c.arch, "' (supported: vgg16)"));
  if (!(c.width > 0.0 && c.width <= 4.0)) {
    return Bad("width", absl::StrCat("must be in (0, 4], got ", c.width));
  }
  if (c.batch_size < 2 || c.batch_size > 4096) {
    return Bad("batch_size", absl::StrCat("must be in [2, 4096] (batch norm needs two), got ", c.batch_size));
  }
  if (c.epochs < 1 || c.epochs > 10000) return Bad("epochs", absl::StrCat("must be in [1, 10000], got ", c.epochs));
  if (!(c.learning_rate > 0.0 && c.learning_rate < 10.0)) {
    return Bad("learning_rate", absl::StrCat("must be in (0, 10), got ", c.learning_rate));
  }
  if (!(c.ema_decay >= 0.0 && c.ema_decay < 1.0)) {
    return Bad("ema_decay", absl::StrCat("must be in [0, 1), got ", c.ema_decay));
  }
  if (!(c.cutmix >= 0.0 && c.cutmix <= 1.0)) {
    return Bad("cutmix", absl::StrCat("must be in [0, 1], got ", c.cutmix));
  }
  if (!(c.label_smoothing >= 0.0 && c.label_smoothing < 1.0)) {
    return Bad("label_smoothing", absl::StrCat("must be in [0, 1), got ", c.label_smoothing));
  }
  if (!(c.weight_decay >= 0.0 && std::isfinite(c.weight_decay))) {
    return Bad("weight_decay", "must be >= 0");
  }
  if (!(c.lr_factor > 0.0 && c.lr_factor < 1.0)) {
    return Bad("lr_factor", absl::StrCat("must be in (0, 1), got ", c.lr_factor));
  }
  if (c.preset != "reference" && c.preset != "fast") {
    return Bad("preset", absl::StrCat("must be reference or fast, got '", c.preset, "'"));
  }
  if (c.optimizer != "adam" && c.optimizer != "adamw") {
    return Bad("optimizer", absl::StrCat("must be adam or adamw, got '", c.optimizer, "'"));
  }
  if (c.best_by != "accuracy" && c.best_by != "last") {
    return Bad("best_by", absl::StrCat("must be accuracy or last, got '", c.best_by, "'"));
  }
  if (c.lr_schedule != "plateau" && c.lr_schedule != "cosine") {
    return Bad("lr_schedule", absl::StrCat("must be plateau or cosine, got '", c.lr_schedule, "'"));
  }
  if (!(c.warmup_epochs >= 0.0 && c.warmup_epochs <= c.epochs)) {
    return Bad("warmup_epochs", absl::StrCat("must be in [0, epochs], got ", c.warmup_epochs));
  }
  if (!(c.time_budget_min >= 0.0 && c.time_budget_min <= 1e6)) {
    return Bad("time_budget_min", "must be in [0, 1e6] minutes");
  }
  if (c.lr_patience < 0) return Bad("lr_patience", "must be >= 0");
  if (c.early_stop_patience < 0) return Bad("early_stop_patience", "must be >= 0");
  if (c.device != "auto" && c.device != "cpu" && c.device.rfind("cuda", 0) != 0) {
    return Bad("device", absl::StrCat("must be auto, cpu, cuda or cuda:N, got '", c.device, "'"));
  }
  if (!ParsePrecision(c.precision).ok()) {
    return Bad("precision", absl::StrCat("must be fp32, bf16 or fp16, got '", c.precision, "'"));
  }
  if (c.threads < 0 || c.threads > 1024) return Bad("threads", "must be in [0, 1024]");
  if (c.workers < 1 || c.workers > 64) return Bad("workers", "must be in [1, 64]");
  if (c.nproc_per_node < 1 || c.nproc_per_node > 64) return Bad("nproc_per_node", "must be in [1, 64]");
  if (c.workers > 1 && c.nproc_per_node > 1) {
    return Bad("nproc_per_node", "ranks are threads (workers) or processes (nproc_per_node), not both");
  }
  const int ranks = std::max(c.workers, c.nproc_per_node);
  if (c.batch_size % ranks != 0 || c.batch_size / ranks < 2) {
    return Bad("batch_size", absl::StrCat("must be a multiple of the ranks (", ranks,
                                          ") with at least 2 images per rank (batch norm), got ", c.batch_size));
  }
  if (c.loader_workers < 1 || c.loader_workers > 64) return Bad("loader_workers", "must be in [1, 64]");
  if (c.prefetch_batches < 1 || c.prefetch_batches > 256) return Bad("prefetch_batches", "must be in [1, 256]");
  // The budget is compared in bytes: keep MiB << 20 inside int64.
  if (c.cache_budget_mb < 0 || c.cache_budget_mb > (int64_t{1} << 40)) {
    return Bad("cache_budget_mb", "must be in [0, 2^40] MiB");
  }
  if (c.progress_interval < 0) return Bad("progress_interval", "must be >= 0");
  if (!(c.checkpoint_interval_min >= 0.0 && c.checkpoint_interval_min <= 1e6)) {
    return Bad("checkpoint_interval_min", "must be in [0, 1e6] minutes");
  }
  if (c.output_dir.empty()) return Bad("output_dir", "is required");
  return absl::OkStatus();
}

std::string TrainConfigToJson(const TrainConfig& config) {
  nlohmann::json json = nlohmann::json::object();
  TrainConfig c = config;  // the table hands out mutable member pointers
  for (const TrainConfigField& field : TrainConfigFields()) {
    std::visit([&](auto* member) { json[JsonPointer(field)] = *member; }, field.ref(c));
  }
  return json.dump();
}

absl::StatusOr<TrainConfig> TrainConfigFromJson(const std::string& text) {
  TrainConfig config;
  try {
    const nlohmann::json json = nlohmann::json::parse(text);
    // Keys missing from stored JSON keep their defaults, so rows written
    // before a knob existed still load.
    for (const TrainConfigField& field : TrainConfigFields()) {
      const nlohmann::json::json_pointer pointer = JsonPointer(field);
      if (!json.contains(pointer)) continue;
      std::visit([&](auto* member) { json.at(pointer).get_to(*member); }, field.ref(config));
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(std::string("bad training config JSON: ") + e.what());
  }
  return config;
}

}  // namespace catdog::common
