#include "server/rpc/inference_service.h"

#include "absl/time/time.h"
#include "api/inference_conversion.h"
#include "api/status_conversion.h"

namespace catdog::server {

grpc::ServerUnaryReactor* InferenceServiceImpl::Classify(grpc::CallbackServerContext* context,
                                                         const v1::ClassifyRequest* request,
                                                         v1::ClassifyResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // The request (and so these views) lives until the call finishes.
  std::vector<ImageInput> images;
  images.reserve(static_cast<size_t>(request->images_size()));
  for (const v1::Image& image : request->images()) images.push_back({image.id(), image.data()});
  CallInfo call;
  call.deadline = absl::FromChrono(context->deadline());
  call.cancelled = [context] { return context->IsCancelled(); };
  engine_->Classify(std::move(images), std::move(call),
                    [reactor, response](absl::StatusOr<common::ClassifyResult> result) {
                      if (result.ok()) *response = api::ClassifyResultToProto(*result);
                      reactor->Finish(api::ToGrpcStatus(result.status()));
                    });
  return reactor;
}

}  // namespace catdog::server
