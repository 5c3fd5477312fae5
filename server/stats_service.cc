#include "server/stats_service.h"

#include "absl/time/clock.h"
#include "server/proto_conversion.h"

namespace catdog::server {

grpc::Status StatsServiceImpl::GetStats(grpc::ServerContext*, const v1::GetStatsRequest*,
                                        v1::Stats* response) {
  BatcherStatsToProto(batcher_->stats(), response);
  response->set_classify_requests(inference_->requests());
  for (const auto& [state, count] : jobs_->CountByState()) {
    v1::JobStateCount* c = response->add_jobs();
    c->set_state(JobStateToProto(state));
    c->set_count(count);
  }
  if (const auto serving = registry_->Current(); serving != nullptr) {
    response->set_serving_model_id(serving->id);
  }
  response->set_uptime_seconds(absl::ToDoubleSeconds(absl::Now() - started_));
  return grpc::Status::OK;
}

}  // namespace catdog::server
