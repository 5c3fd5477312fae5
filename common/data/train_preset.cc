#include "common/data/train_preset.h"

#include <type_traits>
#include <variant>

#include "absl/strings/str_cat.h"

namespace catdog::common {
namespace {

TrainConfig FastRecipe() {
  TrainConfig c;
  c.preset = "fast";
  // 200 more of 2000 photos to learn from; the 200 left validate, and the
  // last epoch's averaged weights are kept rather than a noisy peak
  // (BENCHMARKS.md "Learning", run 9).
  c.valid_fraction = 0.1;
  c.best_by = "last";
  c.width = 0.5;  // a quarter of the compute per image: four times the epochs
  c.batch_size = 32;
  c.optimizer = "adamw";
  c.learning_rate = 5e-4;  // ties 1e-3 after 10 epochs; 2e-3 trails (BENCHMARKS.md "Learning")
  c.weight_decay = 0.05;
  c.lr_schedule = "cosine";
  c.warmup_epochs = 1.0;
  c.label_smoothing = 0.1;
  c.ema_decay = 0.998;  // the warmup's (1 + t) / (10 + t) binds first: about the last tenth of the steps
  c.early_stop_patience = 1000;  // the schedule ends the run; best-by-validation picks the weights
  c.augment.flip_probability = 0.5;
  c.augment.crop_scale_min = 0.35;
  c.augment.color_jitter = 0.2;
  c.normalize_from_train = true;
  c.preprocessing.normalize = true;
  c.preprocessing.tta_flip = true;
  // Resized crops show objects larger than whole photos do: judging the
  // last weights 1.125x larger gained on every seed measured, for 1.27x the
  // serving compute (BENCHMARKS.md "Learning", runs 9-12).
  c.eval_scale = 1.125;
  return c;
}

}  // namespace

absl::Status ApplyTrainPreset(const std::string& name, TrainConfig& config,
                              const std::function<bool(const TrainConfigField&)>& keep) {
  TrainConfig recipe;
  if (name == "fast") {
    recipe = FastRecipe();
  } else if (name != "reference") {
    return absl::InvalidArgumentError(absl::StrCat("preset: must be reference or fast, got '", name, "'"));
  }
  // Only the fields where the recipe departs from the defaults (the
  // reference) are set; paths and execution knobs are never touched.
  TrainConfig defaults;
  for (const TrainConfigField& field : TrainConfigFields()) {
    if (keep && keep(field)) continue;
    std::visit(
        [&](auto* from) {
          using T = std::remove_pointer_t<decltype(from)>;
          const T& reference = *std::get<T*>(field.ref(defaults));
          if (*from != reference) *std::get<T*>(field.ref(config)) = *from;
        },
        field.ref(recipe));
  }
  config.preset = name;
  return absl::OkStatus();
}

}  // namespace catdog::common
