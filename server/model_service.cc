#include "server/model_service.h"

#include "absl/strings/str_cat.h"
#include "server/proto_conversion.h"
#include "server/status_conversion.h"

namespace catdog::server {

grpc::Status ModelServiceImpl::ListModels(grpc::ServerContext*, const v1::ListModelsRequest* request,
                                          v1::ListModelsResponse* response) {
  if (!request->job_id().empty()) {
    if (absl::StatusOr<JobInfo> job = jobs_->Get(request->job_id()); !job.ok()) {
      return ToGrpcStatus(job.status());
    }
  }
  absl::StatusOr<std::vector<CheckpointInfo>> checkpoints = store_->LoadCheckpoints(request->job_id());
  if (!checkpoints.ok()) return ToGrpcStatus(checkpoints.status());
  const std::shared_ptr<const ServingModel> serving = registry_->Current();
  for (const CheckpointInfo& c : *checkpoints) {
    absl::StatusOr<JobInfo> job = jobs_->Get(c.job_id);
    const std::string id = absl::StrCat(c.job_id, "/", c.kind);
    *response->add_models() =
        CheckpointToProto(c, job.ok() ? &*job : nullptr, serving != nullptr && serving->id == id);
  }
  return grpc::Status::OK;
}

grpc::Status ModelServiceImpl::GetServingModel(grpc::ServerContext*, const v1::GetServingModelRequest*,
                                               v1::Model* response) {
  const std::shared_ptr<const ServingModel> serving = registry_->Current();
  if (serving == nullptr) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "no model is being served; promote one with `catdogctl promote MODEL_ID`");
  }
  *response = ServingModelToProto(serving->id, serving->classifier->path(), serving->classifier->card());
  return grpc::Status::OK;
}

grpc::Status ModelServiceImpl::PromoteModel(grpc::ServerContext*, const v1::PromoteModelRequest* request,
                                            v1::Model* response) {
  const std::string& id = request->model_id();
  const size_t slash = id.find('/');
  if (slash == std::string::npos) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("model id '", id, "' is not JOB_ID/best or JOB_ID/last"));
  }
  absl::StatusOr<std::vector<CheckpointInfo>> checkpoints = store_->LoadCheckpoints(id.substr(0, slash));
  if (!checkpoints.ok()) return ToGrpcStatus(checkpoints.status());
  for (const CheckpointInfo& c : *checkpoints) {
    if (c.kind != id.substr(slash + 1)) continue;
    absl::StatusOr<std::shared_ptr<const ServingModel>> promoted = registry_->Promote(id, c.path);
    if (!promoted.ok()) return ToGrpcStatus(promoted.status());
    *response = ServingModelToProto(id, c.path, (*promoted)->classifier->card());
    return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::NOT_FOUND,
                      absl::StrCat("no checkpoint ", id, "; `catdogctl models` lists them"));
}

}  // namespace catdog::server
