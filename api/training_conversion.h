// catdog.v1 training messages <-> the job records of common/data/job.h.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "catdog/v1/catdog.pb.h"
#include "common/data/job.h"

namespace catdog::api {

// The TrainConfig fields travel by the names in their field table
// (common/data/train_config_schema.h). Unset optional fields keep the
// TrainConfig defaults (the reference recipe). INVALID_ARGUMENT for a
// normalize_mean / normalize_std that is not three values.
absl::StatusOr<common::JobSpec> JobSpecFromProto(const v1::TrainingConfig& proto);
// Sets every field, so the server sees exactly `spec`.
v1::TrainingConfig JobSpecToProto(const common::JobSpec& spec);

// OK when every wire field of the TrainConfig table exists in
// catdog.v1.TrainingConfig with a matching type, and every TrainingConfig
// field is in the table (or is auto_promote); INTERNAL naming the mismatch.
absl::Status CheckTrainingConfigSchema();

v1::JobState JobStateToProto(common::JobState state);
// INVALID_ARGUMENT for JOB_STATE_UNSPECIFIED or unknown values.
absl::StatusOr<common::JobState> JobStateFromProto(v1::JobState state);

v1::EpochMetrics EpochMetricsToProto(const common::EpochMetrics& m);
v1::EvalMetrics EvalMetricsToProto(const common::TestEvaluation& t,
                                   const std::vector<std::string>& class_names);
v1::Job JobInfoToProto(const common::JobInfo& job);
v1::JobEvent JobEventToProto(const common::JobEvent& event,
                             const std::vector<std::string>& class_names);

}  // namespace catdog::api
