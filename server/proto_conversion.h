// The only code that knows both the catdog.v1 protos and the domain types.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "catdog/v1/catdog.pb.h"
#include "common/model_card.h"
#include "server/dynamic_batcher.h"
#include "server/job.h"

namespace catdog::server {

// Unset optional fields take the TrainConfig defaults (the reference recipe).
JobSpec JobSpecFromProto(const v1::TrainingConfig& proto);
// Sets every field, so the server sees exactly `spec`.
v1::TrainingConfig JobSpecToProto(const JobSpec& spec);

v1::JobState JobStateToProto(JobState state);
// INVALID_ARGUMENT for JOB_STATE_UNSPECIFIED or unknown values.
absl::StatusOr<JobState> JobStateFromProto(v1::JobState state);

v1::EpochMetrics EpochMetricsToProto(const common::EpochMetrics& m);
v1::EvalMetrics EvalMetricsToProto(const TestEvaluation& t, const std::vector<std::string>& class_names);
v1::Job JobInfoToProto(const JobInfo& job);
v1::JobEvent JobEventToProto(const JobEvent& event, const std::vector<std::string>& class_names);

// A checkpoint of a job, as listed by ModelService.
v1::Model CheckpointToProto(const CheckpointInfo& c, const JobInfo* job, bool serving);
// The serving model, from its card.
v1::Model ServingModelToProto(const std::string& id, const std::string& path,
                              const common::ModelCard& card);

void BatcherStatsToProto(const BatcherStats& stats, v1::Stats* out);

}  // namespace catdog::server
