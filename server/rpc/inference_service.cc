#include "server/rpc/inference_service.h"

#include <memory>

#include <grpcpp/alarm.h>
#include <grpcpp/impl/codegen/proto_utils.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "api/inference_conversion.h"
#include "api/status_conversion.h"
#include "catdog/v1/catdog.pb.h"

namespace catdog::server {
namespace {

// One Classify call: read one request message (or time out), classify it,
// write the response and finish.
class ClassifyReactor final : public grpc::ServerGenericBidiReactor {
 public:
  ClassifyReactor(ServingEngine* engine, grpc::CallbackServerContext* context, absl::Duration upload_timeout,
                  const PathRedactor* redact, common::TokenRegistry::ClassifySlot slot,
                  const InferenceServiceImpl::OnFinish* on_finish)
      : engine_(engine), context_(context), redact_(redact), slot_(std::move(slot)), on_finish_(on_finish),
        race_(std::make_shared<Race>()) {
    StartRead(&request_bytes_);
    if (upload_timeout > absl::ZeroDuration()) {
      // The alarm's callback may run after this reactor is gone (a
      // cancelled alarm still calls back): it touches only `race`, and the
      // reactor only when it won the race, which keeps the call open.
      alarm_.Set(absl::ToChronoTime(absl::Now() + upload_timeout),
                 [race = race_, reactor = this, upload_timeout](bool fired) {
                   if (!fired || !race->Claim()) return;
                   reactor->End(grpc::Status(
                       grpc::StatusCode::DEADLINE_EXCEEDED,
                       absl::StrFormat("the request did not arrive within %s (the server's --upload-timeout-s)",
                                       absl::FormatDuration(upload_timeout))));
                 });
    }
  }

  void OnReadDone(bool ok) override {
    if (!race_->Claim()) return;  // timed out: the alarm finished the call
    alarm_.Cancel();
    if (!ok) {
      End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request message"));
      return;
    }
    // Parsed here rather than by gRPC, so bad bytes get a real answer.
    auto request = std::make_shared<v1::ClassifyRequest>();
    if (const grpc::Status parsed = grpc::SerializationTraits<v1::ClassifyRequest>::Deserialize(
            &request_bytes_, request.get());
        !parsed.ok()) {
      End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       "the request bytes are not a catdog.v1.ClassifyRequest (" + parsed.error_message() + ")"));
      return;
    }
    // The request (and so these views) lives until the completion below.
    std::vector<ImageInput> images;
    images.reserve(static_cast<size_t>(request->images_size()));
    for (const v1::Image& image : request->images()) images.push_back({image.id(), image.data()});
    CallInfo call;
    call.deadline = absl::FromChrono(context_->deadline());
    call.cancelled = [context = context_] { return context->IsCancelled(); };
    engine_->Classify(std::move(images), std::move(call),
                      [this, request](absl::StatusOr<common::ClassifyResult> result) {
                        if (!result.ok()) {
                          End(api::ToGrpcStatus(redact_->Status(result.status())));
                          return;
                        }
                        result->model_id = redact_->ModelId(result->model_id);
                        bool own_buffer = false;
                        const grpc::Status serialized = grpc::SerializationTraits<v1::ClassifyResponse>::Serialize(
                            api::ClassifyResultToProto(*result), &response_bytes_, &own_buffer);
                        if (!serialized.ok()) {
                          End(serialized);
                          return;
                        }
                        Observe(grpc::Status::OK);
                        StartWriteAndFinish(&response_bytes_, grpc::WriteOptions(), grpc::Status::OK);
                      });
  }

  void OnDone() override { delete this; }

 private:
  // Before the answer goes out: the call is over for quotas and metrics.
  void Observe(const grpc::Status& status) {
    slot_.Release();
    if (*on_finish_) (*on_finish_)(status, absl::Now() - started_);
  }
  void End(const grpc::Status& status) {
    Observe(status);
    Finish(status);
  }

  // Exactly one of the read and the upload alarm goes on with the call.
  struct Race {
    bool Claim() {
      absl::MutexLock lock(&mu);
      if (decided) return false;
      decided = true;
      return true;
    }
    absl::Mutex mu;
    bool decided ABSL_GUARDED_BY(mu) = false;
  };

  ServingEngine* const engine_;
  grpc::CallbackServerContext* const context_;
  const PathRedactor* const redact_;
  common::TokenRegistry::ClassifySlot slot_;  // held until the answer is sent
  const InferenceServiceImpl::OnFinish* const on_finish_;  // the service's, which outlives the call
  const absl::Time started_ = absl::Now();
  const std::shared_ptr<Race> race_;
  grpc::ByteBuffer request_bytes_;
  grpc::ByteBuffer response_bytes_;
  grpc::Alarm alarm_;
};

// A call refused before its request is read.
class RefusedReactor final : public grpc::ServerGenericBidiReactor {
 public:
  RefusedReactor(const absl::Status& status, const InferenceServiceImpl::OnFinish* on_finish) {
    const grpc::Status refused = api::ToGrpcStatus(status);
    if (on_finish != nullptr && *on_finish) (*on_finish)(refused, absl::ZeroDuration());
    Finish(refused);
  }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerGenericBidiReactor* InferenceServiceImpl::CreateReactor(grpc::GenericCallbackServerContext* context) {
  if (context->method() != kClassifyMethod) {
    return new RefusedReactor(absl::UnimplementedError(absl::StrCat("no method ", context->method().substr(0, 200))),
                              nullptr);
  }
  absl::StatusOr<common::Principal> principal = Authorize(policy_->tokens, *context, common::kScopeInference);
  if (!principal.ok()) return new RefusedReactor(principal.status(), &on_finish_);
  absl::StatusOr<common::TokenRegistry::ClassifySlot> slot =
      policy_->tokens == nullptr ? common::TokenRegistry::ClassifySlot()
                                 : policy_->tokens->AcquireClassify(*principal);
  if (!slot.ok()) return new RefusedReactor(slot.status(), &on_finish_);
  return new ClassifyReactor(engine_, context, upload_timeout_, &policy_->redact, *std::move(slot), &on_finish_);
}

}  // namespace catdog::server
