#include "server/rpc/inference_service.h"

#include "absl/time/time.h"
#include "api/inference_conversion.h"
#include "api/status_conversion.h"

namespace catdog::server {

grpc::ServerUnaryReactor* InferenceServiceImpl::Classify(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* request_bytes,
                                                         grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Parsed here rather than by gRPC, so bad bytes get a real answer. The
  // copy shares the received slices; Deserialize consumes it.
  grpc::ByteBuffer bytes(*request_bytes);
  auto request = std::make_shared<v1::ClassifyRequest>();
  if (const grpc::Status parsed = grpc::SerializationTraits<v1::ClassifyRequest>::Deserialize(&bytes, request.get());
      !parsed.ok()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "the request bytes are not a catdog.v1.ClassifyRequest (" +
                                     parsed.error_message() + ")"));
    return reactor;
  }
  // The request (and so these views) lives until the completion below.
  std::vector<ImageInput> images;
  images.reserve(static_cast<size_t>(request->images_size()));
  for (const v1::Image& image : request->images()) images.push_back({image.id(), image.data()});
  CallInfo call;
  call.deadline = absl::FromChrono(context->deadline());
  call.cancelled = [context] { return context->IsCancelled(); };
  engine_->Classify(std::move(images), std::move(call),
                    [reactor, response_bytes, request](absl::StatusOr<common::ClassifyResult> result) {
                      grpc::Status status = api::ToGrpcStatus(result.status());
                      if (result.ok()) {
                        bool own_buffer = false;
                        status = grpc::SerializationTraits<v1::ClassifyResponse>::Serialize(
                            api::ClassifyResultToProto(*result), response_bytes, &own_buffer);
                      }
                      reactor->Finish(status);
                    });
  return reactor;
}

}  // namespace catdog::server
