// `catdogctl bench`: a closed-loop load generator for Classify. N callers
// each send a request, wait for the answer, and send the next, until a
// request count or a duration is reached.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/catdog_client.h"

namespace catdog::client {

struct LoadOptions {
  int concurrency = 1;
  int64_t requests = 0;                          // total; 0 = run for `duration`
  absl::Duration duration = absl::Seconds(10);  // used when requests == 0
  int images_per_request = 1;
  std::vector<std::string> images;  // encoded images, sent round-robin
};

struct LoadReport {
  int64_t requests = 0;
  int64_t images = 0;
  int64_t errors = 0;  // failed requests
  double seconds = 0.0;
  double requests_per_second = 0.0;
  double images_per_second = 0.0;
  double p50_ms = 0.0, p90_ms = 0.0, p99_ms = 0.0;
  // From the server's stats over the run; unset for servers without
  // catdog.v1.StatsService (the plain Python comparison server).
  std::optional<double> server_mean_batch;
};

// INVALID_ARGUMENT for bad options. Failed requests are counted, not fatal.
absl::StatusOr<LoadReport> RunLoad(CatdogClient& client, const LoadOptions& options);

// Nearest-rank percentile of `sorted` (ascending), p in [0, 100].
double Percentile(const std::vector<double>& sorted, double p);

}  // namespace catdog::client
