// The TrainConfig field table is the one place a knob is spelled out: these
// tests fail when a TrainConfig member is missing from the table, or a table
// row does not survive the wire, the JSON persistence or the flags.
#include "common/data/train_config_schema.h"

#include <set>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "api/training_conversion.h"
#include "common/data/train_flags.h"

namespace catdog::common {
namespace {

// Counts an aggregate's members: the most values convertible to anything
// that brace-initialise it (a nested aggregate takes one value, not its own
// members, since the value converts to it directly).
struct AnyValue {
  template <typename T>
  operator T() const;  // never defined: used in unevaluated contexts only
};
// Declared first: the recursion below must see it once T takes no more values.
template <typename T, typename... Values>
constexpr size_t MemberCount(long) {
  return sizeof...(Values);
}
template <typename T, typename... Values>
constexpr auto MemberCount(int) -> decltype(void(T{Values{}..., AnyValue{}}), size_t{}) {
  return MemberCount<T, Values..., AnyValue>(0);
}
template <typename T>
constexpr size_t CountMembers() {
  return MemberCount<T>(0);
}

// A valid-looking value that differs from `v`.
int Changed(int v, const TrainConfigField&) { return v + 3; }
int64_t Changed(int64_t v, const TrainConfigField&) { return v + 5; }
uint64_t Changed(uint64_t v, const TrainConfigField&) { return v + 7; }
double Changed(double v, const TrainConfigField&) { return v + 0.25; }
bool Changed(bool v, const TrainConfigField&) { return !v; }
std::string Changed(const std::string& v, const TrainConfigField& field) {
  for (const std::string& choice : field.choices) {
    if (choice != v) return choice;
  }
  return v + "-changed";
}
std::array<float, 3> Changed(const std::array<float, 3>& v, const TrainConfigField&) {
  return {v[0] + 0.5f, v[1] + 0.25f, v[2] + 0.125f};
}

// Every field of the table set to a value other than its default.
TrainConfig EveryFieldChanged() {
  TrainConfig config;
  for (const TrainConfigField& field : TrainConfigFields()) {
    std::visit([&](auto* member) { *member = Changed(*member, field); }, field.ref(config));
  }
  return config;
}

// Names of the fields (of those `selected`) whose values differ.
template <typename Select>
std::vector<std::string> Differences(const TrainConfig& a, const TrainConfig& b, Select selected) {
  TrainConfig x = a, y = b;
  std::vector<std::string> differ;
  for (const TrainConfigField& field : TrainConfigFields()) {
    if (!selected(field)) continue;
    const bool equal = std::visit(
        [&](auto* px) {
          using T = std::remove_pointer_t<decltype(px)>;
          return *px == *std::get<T*>(field.ref(y));
        },
        field.ref(x));
    if (!equal) differ.push_back(field.name);
  }
  return differ;
}
bool All(const TrainConfigField&) { return true; }

std::string FlagValue(int v) { return absl::StrCat(v); }
std::string FlagValue(int64_t v) { return absl::StrCat(v); }
std::string FlagValue(uint64_t v) { return absl::StrCat(v); }
std::string FlagValue(double v) { return absl::StrFormat("%.17g", v); }
std::string FlagValue(const std::string& v) { return v; }
std::string FlagValue(const std::array<float, 3>& v) {
  return absl::StrFormat("%.9g,%.9g,%.9g", v[0], v[1], v[2]);
}

TEST(TrainConfigSchemaTest, TableCoversEveryMember) {
  std::set<std::string> top, preprocessing, augment;
  for (const TrainConfigField& field : TrainConfigFields()) {
    const std::string name = field.name;
    if (name.rfind("preprocessing.", 0) == 0) {
      preprocessing.insert(name);
    } else if (name.rfind("augment.", 0) == 0) {
      augment.insert(name);
    } else {
      top.insert(name);
    }
  }
  // Top level: the table's own rows plus the two nested structs.
  EXPECT_EQ(top.size() + 2, CountMembers<TrainConfig>())
      << "a TrainConfig member is missing from TrainConfigFields() (train_config_schema.cc)";
  EXPECT_EQ(preprocessing.size(), CountMembers<Preprocessing>());
  EXPECT_EQ(augment.size(), CountMembers<AugmentOptions>());
  EXPECT_EQ(top.size() + preprocessing.size() + augment.size(), TrainConfigFields().size())
      << "two rows share a name";
}

TEST(TrainConfigSchemaTest, WireMatchesTheProto) {
  const absl::Status s = api::CheckTrainingConfigSchema();
  EXPECT_TRUE(s.ok()) << s;
}

TEST(TrainConfigSchemaTest, EveryFieldRoundTripsThroughTheWire) {
  JobSpec spec;
  spec.config = EveryFieldChanged();
  spec.auto_promote = false;
  absl::StatusOr<JobSpec> back = api::JobSpecFromProto(api::JobSpecToProto(spec));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(Differences(spec.config, back->config, [](const TrainConfigField& f) { return f.wire_name != nullptr; }),
            std::vector<std::string>{});
  // Fields that never travel keep their defaults.
  EXPECT_EQ(Differences(TrainConfig(), back->config, [](const TrainConfigField& f) { return f.wire_name == nullptr; }),
            std::vector<std::string>{});
  EXPECT_FALSE(back->auto_promote);
}

TEST(TrainConfigSchemaTest, EveryFieldRoundTripsThroughJson) {
  const TrainConfig changed = EveryFieldChanged();
  absl::StatusOr<TrainConfig> back = TrainConfigFromJson(TrainConfigToJson(changed));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(Differences(changed, *back, All), std::vector<std::string>{});
}

TEST(TrainConfigSchemaTest, EveryFlagRoundTripsThroughTheCommandLine) {
  TrainConfig changed = EveryFieldChanged();
  std::vector<std::string> args = {"catdog-train"};
  for (const TrainConfigField& field : TrainConfigFields()) {
    if (field.flag == nullptr) continue;
    std::visit(
        [&](auto* member) {
          using T = std::remove_pointer_t<decltype(member)>;
          if constexpr (std::is_same_v<T, bool>) {
            if (*member) args.push_back(field.flag);
          } else {
            args.push_back(field.flag);
            args.push_back(FlagValue(*member));
          }
        },
        field.ref(changed));
  }
  TrainConfig parsed;
  CLI::App app;
  AddTrainConfigFlags(app, parsed);
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  ASSERT_NO_THROW(app.parse(static_cast<int>(argv.size()), argv.data()));
  EXPECT_EQ(Differences(changed, parsed, [](const TrainConfigField& f) { return f.flag != nullptr; }),
            std::vector<std::string>{});
  EXPECT_EQ(Differences(TrainConfig(), parsed, [](const TrainConfigField& f) { return f.flag == nullptr; }),
            std::vector<std::string>{});
}

TEST(TrainConfigSchemaTest, JsonWithoutNewerKeysKeepsTheirDefaults) {
  absl::StatusOr<TrainConfig> old = TrainConfigFromJson(R"({"epochs": 3, "preprocessing": {"image_size": 64}})");
  ASSERT_TRUE(old.ok()) << old.status();
  TrainConfig expected;
  expected.epochs = 3;
  expected.preprocessing.image_size = 64;
  EXPECT_EQ(Differences(expected, *old, All), std::vector<std::string>{});
  EXPECT_EQ(TrainConfigFromJson("{not json").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TrainConfigSchemaTest, NormalizationStatsNeedThreeValues) {
  v1::TrainingConfig proto;
  proto.set_dataset("cats");
  proto.add_normalize_mean(0.5f);
  proto.add_normalize_mean(0.5f);
  const absl::StatusOr<JobSpec> spec = api::JobSpecFromProto(proto);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find("normalize_mean"), std::string::npos) << spec.status();
}

}  // namespace
}  // namespace catdog::common
