#include "server/rpc/model_service.h"

#include "api/model_conversion.h"
#include "api/model_id.h"
#include "server/rpc/reply.h"

namespace catdog::server {

v1::Model ModelServiceImpl::Redacted(v1::Model model) const {
  model.set_path(policy_->redact.Path(model.path()));
  model.set_id(policy_->redact.ModelId(model.id()));
  return model;
}

grpc::ServerUnaryReactor* ModelServiceImpl::ListModels(grpc::CallbackServerContext* context,
                                                       const v1::ListModelsRequest* request,
                                                       v1::ListModelsResponse* response) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeInference);
  absl::StatusOr<std::vector<common::CheckpointInfo>> checkpoints = jobs_->ListCheckpoints(request->job_id());
  if (!checkpoints.ok()) return Reply(context, checkpoints.status());
  const std::shared_ptr<const ServingModel> serving = engine_->Current();
  for (const common::CheckpointInfo& c : *checkpoints) {
    absl::StatusOr<common::JobInfo> job = jobs_->Get(c.job_id);
    const bool is_serving = serving != nullptr && serving->id == api::ModelId::Checkpoint(c.job_id, c.kind);
    *response->add_models() = Redacted(api::CheckpointToProto(c, job.ok() ? &*job : nullptr, is_serving));
  }
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* ModelServiceImpl::GetServingModel(grpc::CallbackServerContext* context,
                                                            const v1::GetServingModelRequest*,
                                                            v1::Model* response) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeInference);
  absl::StatusOr<std::shared_ptr<const ServingModel>> serving = engine_->CurrentOrError();
  if (serving.ok()) {
    const ServingModel& m = **serving;
    *response = Redacted(api::ServingModelToProto(m.id, m.path, m.classifier->card()));
  }
  return Reply(context, serving.status());
}

grpc::ServerUnaryReactor* ModelServiceImpl::PromoteModel(grpc::CallbackServerContext* context,
                                                         const v1::PromoteModelRequest* request,
                                                         v1::Model* response) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeAdmin);
  absl::StatusOr<api::ModelId> id = api::ModelId::Parse(request->model_id());
  if (!id.ok()) return Reply(context, id.status());
  // A file path would let any client load any file the server can read.
  if (id->is_file()) {
    return Reply(context, absl::InvalidArgumentError(
                              "only a job's checkpoint (JOB_ID/best or JOB_ID/last) can be promoted over "
                              "the API; serve a file with catdogd --serve-checkpoint"));
  }
  absl::StatusOr<std::shared_ptr<const ServingModel>> promoted = engine_->Promote(*id);
  if (promoted.ok()) {
    const ServingModel& m = **promoted;
    *response = Redacted(api::ServingModelToProto(m.id, m.path, m.classifier->card()));
  }
  return Reply(context, policy_->redact.Status(promoted.status()));
}

}  // namespace catdog::server
