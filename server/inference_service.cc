#include "server/inference_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "server/status_conversion.h"

namespace catdog::server {

grpc::Status InferenceServiceImpl::Classify(grpc::ServerContext* context,
                                            const v1::ClassifyRequest* request,
                                            v1::ClassifyResponse* response) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  const int n = request->images_size();
  if (n == 0) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no images in the request");
  if (n > options_.max_images_per_request) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat(n, " images in one request; the server accepts at most ",
                                     options_.max_images_per_request, " (send several requests)"));
  }
  // Held until every prediction is in: a concurrent swap cannot pull the
  // model out from under this request.
  const std::shared_ptr<const ServingModel> model = registry_->Current();
  if (model == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "no model is being served: train one (`catdogctl start-training`, best "
                        "checkpoint promoted when it succeeds) or promote a checkpoint "
                        "(`catdogctl models`, then `catdogctl promote MODEL_ID`)");
  }
  const common::ModelCard& card = model->classifier->card();
  response->set_model_id(model->id);
  for (const std::string& name : card.class_names) response->add_class_names(name);

  std::vector<InferenceItem> items;
  std::vector<int> item_to_result;
  const absl::Time deadline = absl::FromChrono(context->deadline());
  for (int i = 0; i < n; ++i) {
    v1::ImageResult* result = response->add_results();
    result->set_id(request->images(i).id());
    absl::StatusOr<cv::Mat> image = model->classifier->Preprocess(request->images(i).data());
    if (!image.ok()) {
      result->set_error(std::string(image.status().message()));
      continue;
    }
    InferenceItem item;
    item.model = model;
    item.image = *std::move(image);
    item.deadline = deadline;
    item.cancelled = [context] { return context->IsCancelled(); };
    items.push_back(std::move(item));
    item_to_result.push_back(i);
  }
  if (items.empty()) return grpc::Status::OK;  // every image failed on its own

  // Callbacks run one at a time on the batcher thread; Wait() orders their
  // writes before our reads.
  const int pending_count = static_cast<int>(items.size());
  absl::BlockingCounter pending(pending_count);
  int failed = 0;
  absl::Status last_error;
  for (size_t k = 0; k < items.size(); ++k) {
    v1::ImageResult* result = response->mutable_results(item_to_result[k]);
    items[k].done = [result, &card, &pending, &failed, &last_error](absl::StatusOr<common::Prediction> prediction) {
      if (prediction.ok()) {
        result->set_class_index(prediction->class_index);
        result->set_label(card.class_names[static_cast<size_t>(prediction->class_index)]);
        for (float p : prediction->probabilities) result->add_probabilities(p);
      } else {
        result->set_error(std::string(prediction.status().message()));
        ++failed;
        last_error = prediction.status();
      }
      pending.DecrementCount();
    };
  }
  if (absl::Status queued = batcher_->Enqueue(std::move(items)); !queued.ok()) {
    return ToGrpcStatus(queued);
  }
  const int enqueued = pending_count;
  pending.Wait();
  // When the model itself failed every image (out of memory, deadline), the
  // call fails with that status; single bad images only mark themselves.
  if (failed == enqueued) return ToGrpcStatus(last_error);
  return grpc::Status::OK;
}

}  // namespace catdog::server
