// Human-readable and JSON renderings of catdog's protos for catdogctl.
// Pure functions returning strings; the caller prints them.
#pragma once

#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "catdog/v1/catdog.pb.h"

namespace catdog::client {

// Compact JSON, field names as in the .proto, defaults included.
std::string ToJson(const google::protobuf::Message& message);

std::string JobStateName(v1::JobState state);  // "SUCCEEDED", ...
std::string JobsTable(const v1::ListJobsResponse& jobs);
std::string JobDetails(const v1::Job& job);
std::string ModelsTable(const v1::ListModelsResponse& models);
std::string ModelDetails(const v1::Model& model);
std::string StatsText(const v1::Stats& stats);

// The watch view: a header, one row per epoch, a progress bar line.
std::string EpochHeader();
std::string EpochRow(const v1::EpochMetrics& m);
std::string ProgressBar(const v1::Progress& p, int width = 30);
std::string EvalText(const v1::EvalMetrics& m);

}  // namespace catdog::client
