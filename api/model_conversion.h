// catdog.v1.Model from the job store's checkpoint records and from a loaded
// model's card. Pure functions; thread-safe.
#pragma once

#include <string>

#include "api/model_id.h"
#include "catdog/v1/catdog.pb.h"
#include "common/data/job.h"
#include "common/data/metrics.h"
#include "common/data/model_card.h"

namespace catdog::api {

// A checkpoint of a job, as listed by ModelService. `job` (may be null)
// supplies the class names and input size.
v1::Model CheckpointToProto(const common::CheckpointInfo& c, const common::JobInfo* job, bool serving);
// The serving model, from its card.
v1::Model ServingModelToProto(const ModelId& id, const std::string& path, const common::ModelCard& card);
// An evaluation; class indices become the card's names.
v1::EvaluationReport EvaluationReportToProto(const common::EvaluationReport& report,
                                             const std::vector<std::string>& class_names);

}  // namespace catdog::api
