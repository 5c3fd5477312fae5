// catdog.v1 inference and stats messages <-> the serving records of
// common/data/serving_types.h. Pure functions; thread-safe.
#pragma once

#include "catdog/v1/catdog.pb.h"
#include "common/data/serving_types.h"

namespace catdog::api {

v1::ClassifyResponse ClassifyResultToProto(const common::ClassifyResult& result);

// The serving part of v1::Stats; the caller adds jobs and uptime.
void ServingStatsToProto(const common::ServingStats& stats, v1::Stats* out);

}  // namespace catdog::api
