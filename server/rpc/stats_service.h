// catdog.v1.StatsService on gRPC's callback API: the serving engine's
// counters, jobs by state, uptime.
#pragma once

#include "absl/time/time.h"
#include "catdog/v1/catdog.grpc.pb.h"
#include "server/serving/serving_engine.h"
#include "server/training/job_manager.h"

namespace catdog::server {

class StatsServiceImpl final : public v1::StatsService::CallbackService {
 public:
  // Both must outlive the service.
  StatsServiceImpl(ServingEngine* engine, JobManager* jobs, absl::Time started)
      : engine_(engine), jobs_(jobs), started_(started) {}

  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context, const v1::GetStatsRequest* request,
                                     v1::Stats* response) override;

 private:
  ServingEngine* const engine_;
  JobManager* const jobs_;
  const absl::Time started_;
};

}  // namespace catdog::server
