#include "common/data/train_flags.h"

#include <algorithm>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/data/train_config_schema.h"
#include "common/data/train_preset.h"

namespace catdog::common {
namespace {

template <typename T>
void AddFlag(CLI::App& app, const TrainConfigField& field, T* member) {
  CLI::Option* option = app.add_option(field.flag, *member, field.help)->capture_default_str();
  if (!field.choices.empty()) option->check(CLI::IsMember(field.choices));
}

void AddFlag(CLI::App& app, const TrainConfigField& field, bool* member) {
  app.add_flag(field.flag, *member, field.help);
}

void AddFlag(CLI::App& app, const TrainConfigField& field, std::array<float, 3>* member) {
  app.add_option_function<std::vector<float>>(
         field.flag, [member](const std::vector<float>& v) { std::copy(v.begin(), v.end(), member->begin()); },
         field.help)
      ->expected(3)
      ->delimiter(',')
      ->default_str(absl::StrCat((*member)[0], ",", (*member)[1], ",", (*member)[2]));
}

}  // namespace

void AddTrainConfigFlags(CLI::App& app, TrainConfig& config) {
  for (const TrainConfigField& field : TrainConfigFields()) {
    if (field.flag == nullptr) continue;
    std::visit([&](auto* member) { AddFlag(app, field, member); }, field.ref(config));
  }
  // Once parsed: the preset's values for every flag not given.
  app.final_callback([&app, &config] {
    const absl::Status applied = ApplyTrainPreset(config.preset, config, [&app](const TrainConfigField& field) {
      return field.flag != nullptr && app.get_option(field.flag)->count() > 0;
    });
    if (!applied.ok()) throw CLI::ValidationError("--preset", std::string(applied.message()));
  });
}

}  // namespace catdog::common
