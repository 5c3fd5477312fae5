#include "common/data/training_state.h"

#include <cmath>

#include <nlohmann/json.hpp>

namespace catdog::common {
namespace {

nlohmann::json Finite(double value) { return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(); }

double OrInfinity(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::numeric_limits<double>::infinity();
  return it->get<double>();
}

}  // namespace

std::string TrainingStateToJson(const TrainingState& s) {
  return nlohmann::json{{"epochs_completed", s.epochs_completed},
                        {"batches_done", s.batches_done},
                        {"partial_loss_sum", s.partial_loss_sum},
                        {"partial_images", s.partial_images},
                        {"planned_epochs", s.planned_epochs},
                        {"learning_rate", s.learning_rate},
                        {"plateau_best", Finite(s.plateau_best)},
                        {"plateau_bad_epochs", s.plateau_bad_epochs},
                        {"plateau_cooldown_left", s.plateau_cooldown_left},
                        {"early_stop_best", Finite(s.early_stop_best)},
                        {"early_stop_trigger", s.early_stop_trigger},
                        {"best_valid_accuracy", s.best_valid_accuracy},
                        {"best_epoch", s.best_epoch},
                        {"loss_scale", s.loss_scale},
                        {"loss_scale_clean_steps", s.loss_scale_clean_steps}}
      .dump();
}

absl::StatusOr<TrainingState> TrainingStateFromJson(const std::string& text) {
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    TrainingState s;
    s.epochs_completed = j.at("epochs_completed").get<int64_t>();
    s.batches_done = j.at("batches_done").get<int64_t>();
    s.partial_loss_sum = j.at("partial_loss_sum").get<double>();
    s.partial_images = j.at("partial_images").get<int64_t>();
    s.planned_epochs = j.value("planned_epochs", int64_t{0});  // absent before time budgets
    s.learning_rate = j.at("learning_rate").get<double>();
    s.plateau_best = OrInfinity(j, "plateau_best");
    s.plateau_bad_epochs = j.at("plateau_bad_epochs").get<int>();
    s.plateau_cooldown_left = j.at("plateau_cooldown_left").get<int>();
    s.early_stop_best = OrInfinity(j, "early_stop_best");
    s.early_stop_trigger = j.at("early_stop_trigger").get<int64_t>();
    s.best_valid_accuracy = j.at("best_valid_accuracy").get<double>();
    s.best_epoch = j.at("best_epoch").get<int64_t>();
    s.loss_scale = j.at("loss_scale").get<double>();
    s.loss_scale_clean_steps = j.at("loss_scale_clean_steps").get<int>();
    if (s.epochs_completed < 0 || s.batches_done < 0 || s.partial_images < 0) {
      return absl::InvalidArgumentError("training state: negative position");
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(std::string("bad training state JSON: ") + e.what());
  }
}

}  // namespace catdog::common
