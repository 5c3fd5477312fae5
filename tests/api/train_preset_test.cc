// Presets: a named set of TrainConfig values that explicit values override,
// on the command line and on the wire alike.
#include "common/data/train_preset.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "api/training_conversion.h"
#include "common/data/train_flags.h"

namespace catdog::common {
namespace {

absl::StatusOr<TrainConfig> ParseFlags(std::vector<std::string> args) {
  TrainConfig config;
  CLI::App app;
  AddTrainConfigFlags(app, config);
  args.insert(args.begin(), "catdog-train");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::Error& e) {
    return absl::InvalidArgumentError(e.what());
  }
  return config;
}

TEST(TrainPresetTest, ReferenceIsTheDefaults) {
  TrainConfig config;
  ASSERT_TRUE(ApplyTrainPreset("reference", config).ok());
  EXPECT_EQ(TrainConfigToJson(config), TrainConfigToJson(TrainConfig()));
  auto parsed = ParseFlags({});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(TrainConfigToJson(*parsed), TrainConfigToJson(TrainConfig()));
}

TEST(TrainPresetTest, FastSetsItsRecipeAndNothingElse) {
  TrainConfig config;
  config.dataset_root = "/data/pets";
  config.epochs = 12;
  config.threads = 3;
  ASSERT_TRUE(ApplyTrainPreset("fast", config).ok());
  EXPECT_EQ(config.preset, "fast");
  EXPECT_EQ(config.optimizer, "adamw");
  EXPECT_EQ(config.lr_schedule, "cosine");
  EXPECT_GT(config.learning_rate, TrainConfig().learning_rate);
  EXPECT_GT(config.augment.crop_scale_min, 0.0);
  EXPECT_GT(config.augment.color_jitter, 0.0);
  EXPECT_GT(config.label_smoothing, 0.0);
  EXPECT_TRUE(config.normalize_from_train);
  EXPECT_TRUE(config.preprocessing.tta_flip);
  EXPECT_LT(config.valid_fraction, TrainConfig().valid_fraction);
  EXPECT_EQ(config.best_by, "last");
  EXPECT_GT(config.eval_scale, 1.0);
  // Not the recipe's to choose: paths, the epoch count, the machine.
  EXPECT_EQ(config.dataset_root, "/data/pets");
  EXPECT_EQ(config.epochs, 12);
  EXPECT_EQ(config.threads, 3);
  EXPECT_EQ(config.preprocessing.image_size, TrainConfig().preprocessing.image_size);
  EXPECT_TRUE(ValidateTrainConfig([&] {
                TrainConfig c = config;
                c.output_dir = "/tmp/out";
                return c;
              }()).ok());
}

TEST(TrainPresetTest, UnknownNameIsRejectedAndChangesNothing) {
  TrainConfig config;
  EXPECT_EQ(ApplyTrainPreset("turbo", config).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TrainConfigToJson(config), TrainConfigToJson(TrainConfig()));
  EXPECT_FALSE(ParseFlags({"--preset", "turbo"}).ok());
}

TEST(TrainPresetTest, ExplicitFlagsOverrideThePresetInAnyOrder) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--preset", "fast", "--lr", "0.01", "--optimizer", "adam"},
                                                                {"--lr", "0.01", "--optimizer", "adam", "--preset", "fast"}}) {
    auto config = ParseFlags(args);
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->learning_rate, 0.01);
    EXPECT_EQ(config->optimizer, "adam");
    EXPECT_EQ(config->lr_schedule, "cosine");  // the rest is the preset's
    EXPECT_TRUE(config->preprocessing.tta_flip);
  }
  // A flag given at its default value still counts as given.
  auto config = ParseFlags({"--preset", "fast", "--lr-schedule", "plateau"});
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->lr_schedule, "plateau");
}

TEST(TrainPresetTest, TheWireAppliesThePresetToUnsetFields) {
  v1::TrainingConfig p;
  p.set_dataset("pets");
  p.set_preset("fast");
  p.set_learning_rate(0.01);
  absl::StatusOr<JobSpec> spec = api::JobSpecFromProto(p);
  ASSERT_TRUE(spec.ok()) << spec.status();
  TrainConfig expected;
  ASSERT_TRUE(ApplyTrainPreset("fast", expected).ok());
  expected.dataset_root = "pets";
  expected.learning_rate = 0.01;
  EXPECT_EQ(TrainConfigToJson(spec->config), TrainConfigToJson(expected));
  p.set_preset("turbo");
  EXPECT_EQ(api::JobSpecFromProto(p).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace catdog::common
