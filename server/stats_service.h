// catdog.v1.StatsService: serving counters, batch-size distribution, queue
// depth and jobs by state, read from the components that own them.
#pragma once

#include "absl/time/time.h"
#include "catdog/v1/catdog.grpc.pb.h"
#include "server/dynamic_batcher.h"
#include "server/inference_service.h"
#include "server/job_manager.h"
#include "server/model_registry.h"

namespace catdog::server {

class StatsServiceImpl final : public v1::StatsService::Service {
 public:
  // All must outlive the service.
  StatsServiceImpl(const DynamicBatcher* batcher, const InferenceServiceImpl* inference,
                   const JobManager* jobs, const ModelRegistry* registry, absl::Time started)
      : batcher_(batcher), inference_(inference), jobs_(jobs), registry_(registry), started_(started) {}

  grpc::Status GetStats(grpc::ServerContext* context, const v1::GetStatsRequest* request,
                        v1::Stats* response) override;

 private:
  const DynamicBatcher* const batcher_;
  const InferenceServiceImpl* const inference_;
  const JobManager* const jobs_;
  const ModelRegistry* const registry_;
  const absl::Time started_;
};

}  // namespace catdog::server
