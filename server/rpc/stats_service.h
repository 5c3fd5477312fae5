// catdog.v1.StatsService on gRPC's callback API: the serving engine's
// counters, jobs by state, uptime.
#pragma once

#include "absl/time/time.h"
#include "catdog/v1/catdog.grpc.pb.h"
#include "server/rpc/authorize.h"
#include "server/serving/serving_engine.h"
#include "server/training/job_manager.h"

namespace catdog::server {

class StatsServiceImpl final : public v1::StatsService::CallbackService {
 public:
  // All must outlive the service.
  // `jobs` is null on a serving replica (no job counts).
  StatsServiceImpl(ServingEngine* engine, JobManager* jobs, absl::Time started, const CallPolicy* policy)
      : engine_(engine), jobs_(jobs), started_(started), policy_(policy) {}

  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context, const v1::GetStatsRequest* request,
                                     v1::Stats* response) override;

 private:
  ServingEngine* const engine_;
  JobManager* const jobs_;
  const absl::Time started_;
  const CallPolicy* const policy_;
};

}  // namespace catdog::server
