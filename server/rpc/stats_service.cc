#include "server/rpc/stats_service.h"

#include "absl/time/clock.h"
#include "api/inference_conversion.h"
#include "api/training_conversion.h"
#include "server/rpc/reply.h"

namespace catdog::server {

grpc::ServerUnaryReactor* StatsServiceImpl::GetStats(grpc::CallbackServerContext* context,
                                                     const v1::GetStatsRequest*, v1::Stats* response) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeInference);
  api::ServingStatsToProto(engine_->Stats(), response);
  if (jobs_ != nullptr) {  // null on a serving replica
    for (const auto& [state, count] : jobs_->CountByState()) {
      v1::JobStateCount* c = response->add_jobs();
      c->set_state(api::JobStateToProto(state));
      c->set_count(count);
    }
  }
  response->set_serving_model_id(policy_->redact.ModelId(response->serving_model_id()));
  response->set_uptime_seconds(absl::ToDoubleSeconds(absl::Now() - started_));
  return Reply(context, absl::OkStatus());
}

}  // namespace catdog::server
