#include "server/rpc/oip_service.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "api/oip_conversion.h"
#include "server/rpc/reply.h"

namespace catdog::server {

absl::StatusOr<std::shared_ptr<const ServingModel>> OipServiceImpl::Find(const std::string& name,
                                                                         const std::string& version) const {
  if (name != api::kOipModelName) {
    return absl::NotFoundError(
        absl::StrCat("no model '", name.substr(0, 64), "'; catdogd serves '", api::kOipModelName, "'"));
  }
  absl::StatusOr<std::shared_ptr<const ServingModel>> model = engine_->CurrentOrError();
  if (!model.ok()) return model.status();
  const std::string served = policy_->redact.ModelId((*model)->id.ToString());
  if (!version.empty() && version != served) {
    return absl::FailedPreconditionError(
        absl::StrCat("version '", version.substr(0, 200), "' is not served; '", served, "' is"));
  }
  return model;
}

grpc::ServerUnaryReactor* OipServiceImpl::ServerLive(grpc::CallbackServerContext* context,
                                                     const inference::ServerLiveRequest*,
                                                     inference::ServerLiveResponse* response) {
  response->set_live(true);
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* OipServiceImpl::ServerReady(grpc::CallbackServerContext* context,
                                                      const inference::ServerReadyRequest*,
                                                      inference::ServerReadyResponse* response) {
  response->set_ready(engine_->Current() != nullptr);
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* OipServiceImpl::ModelReady(grpc::CallbackServerContext* context,
                                                     const inference::ModelReadyRequest* request,
                                                     inference::ModelReadyResponse* response) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeInference);
  absl::StatusOr<std::shared_ptr<const ServingModel>> model = Find(request->name(), request->version());
  if (!model.ok() && model.status().code() == absl::StatusCode::kNotFound) return Reply(context, model.status());
  response->set_ready(model.ok());
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* OipServiceImpl::ServerMetadata(grpc::CallbackServerContext* context,
                                                         const inference::ServerMetadataRequest*,
                                                         inference::ServerMetadataResponse* response) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeInference);
  response->set_name("catdog");
  response->set_version(server_version_);
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* OipServiceImpl::ModelMetadata(grpc::CallbackServerContext* context,
                                                        const inference::ModelMetadataRequest* request,
                                                        inference::ModelMetadataResponse* response) {
  CATDOG_AUTHORIZE_OR_REPLY(principal, policy_->tokens, context, common::kScopeInference);
  absl::StatusOr<std::shared_ptr<const ServingModel>> model = Find(request->name(), request->version());
  if (!model.ok()) return Reply(context, model.status());
  const common::ModelCard& card = (*model)->classifier->card();
  *response = api::ModelMetadataFor(policy_->redact.ModelId((*model)->id.ToString()), card.preprocessing.image_size,
                                    static_cast<int>(card.class_names.size()));
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* OipServiceImpl::ModelInfer(grpc::CallbackServerContext* context,
                                                     const inference::ModelInferRequest* request,
                                                     inference::ModelInferResponse* response) {
  const absl::Time started = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Every end goes through here: the quota slot is freed and the call
  // counted before the answer goes out.
  auto finish = [this, reactor, started](std::shared_ptr<common::TokenRegistry::ClassifySlot> slot,
                                         const absl::Status& status) {
    if (slot != nullptr) slot->Release();
    const grpc::Status answer = api::ToGrpcStatus(policy_->redact.Status(status));
    if (on_finish_) on_finish_(answer, absl::Now() - started);
    reactor->Finish(answer);
    return reactor;
  };
  absl::StatusOr<common::Principal> principal = Authorize(policy_->tokens, *context, common::kScopeInference);
  if (!principal.ok()) return finish(nullptr, principal.status());
  absl::StatusOr<common::TokenRegistry::ClassifySlot> acquired =
      policy_->tokens == nullptr ? common::TokenRegistry::ClassifySlot() : policy_->tokens->AcquireClassify(*principal);
  if (!acquired.ok()) return finish(nullptr, acquired.status());
  auto slot = std::make_shared<common::TokenRegistry::ClassifySlot>(*std::move(acquired));

  absl::StatusOr<std::shared_ptr<const ServingModel>> model =
      Find(request->model_name().empty() ? api::kOipModelName : request->model_name(), request->model_version());
  if (!model.ok()) return finish(slot, model.status());
  auto inputs = std::make_shared<api::OipInputs>();
  {
    absl::StatusOr<api::OipInputs> parsed =
        api::ParseModelInferRequest(*request, (*model)->classifier->image_size(), max_images_);
    if (!parsed.ok()) return finish(slot, parsed.status());
    *inputs = *std::move(parsed);
  }
  std::vector<ImageInput> images;
  for (std::string_view data : inputs->encoded) images.push_back({"", data, {}});
  for (const cv::Mat& pixels : inputs->pixels) images.push_back({"", "", pixels});
  CallInfo call;
  call.deadline = absl::FromChrono(context->deadline());
  call.cancelled = [context] { return context->IsCancelled(); };
  // gRPC keeps `request` and `response` alive until Finish.
  engine_->Classify(std::move(images), std::move(call),
                    [this, request, response, inputs, slot, finish](absl::StatusOr<common::ClassifyResult> result) {
                      if (!result.ok()) return void(finish(slot, result.status()));
                      for (size_t i = 0; i < result->images.size(); ++i) {
                        if (!result->images[i].error.empty()) {
                          return void(finish(slot, absl::InvalidArgumentError(absl::StrCat(
                                                       "ModelInfer: image ", i, ": ", result->images[i].error))));
                        }
                      }
                      result->model_id = policy_->redact.ModelId(result->model_id);
                      *response = api::ModelInferResponseFromResult(*result, *inputs, request->id());
                      finish(slot, absl::OkStatus());
                    });
  return reactor;
}

}  // namespace catdog::server
