// Command-line flags for a TrainConfig, produced from its field table
// (train_config_schema.h) and shared by `catdogctl start-training` and the
// local `catdog-train`, so both spell every option the same way.
#pragma once

#include <CLI/CLI.hpp>

#include "common/data/train_config.h"

namespace catdog::common {

// Adds one flag per TrainConfig field that has one (defaults shown in
// --help), and applies --preset to the flags not given once `app` is
// parsed (so it takes app's final_callback). The dataset and output paths
// are the caller's: their meaning differs between a server and a local run.
void AddTrainConfigFlags(CLI::App& app, TrainConfig& config);

}  // namespace catdog::common
