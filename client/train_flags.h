// Command-line flags for a TrainConfig, shared by `catdogctl start-training`
// and the local `catdog-train` tool so both spell every option the same way.
#pragma once

#include <CLI/CLI.hpp>

#include "common/train_config.h"

namespace catdog::client {

// Adds one flag per TrainConfig field (defaults shown in --help). Dataset and
// output paths are added by the caller, since their meaning differs.
void AddTrainConfigFlags(CLI::App& app, common::TrainConfig& config);

}  // namespace catdog::client
