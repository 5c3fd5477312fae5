// The serving facade: the model being served (ModelRegistry), request
// preprocessing on the engine's own threads, the dynamic batcher, and the
// one answer for "no model". RPC handlers call it and only translate.
//
// Thread-safe. Classify never blocks its caller: it queues the request and
// calls `done` exactly once, later, on an engine thread (or at once when the
// request is refused up front). Errors:
//   Classify: INVALID_ARGUMENT (no images, too many images), FAILED_PRECONDITION
//     (no model is being served), RESOURCE_EXHAUSTED (too many requests
//     waiting, or no room in the batch queue: refused before decoding), UNAVAILABLE
//     (shutting down), DEADLINE_EXCEEDED / CANCELLED (the caller's), or the
//     model's error when every image failed on it. An undecodable or
//     oversized image fails only itself (ClassifiedImage::error).
//   Promote: NOT_FOUND / INVALID_ARGUMENT from resolving or loading the model,
//     or the record hook's error.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/model_id.h"
#include "common/data/serving_types.h"
#include "common/ml/classifier.h"
#include "server/serving/dynamic_batcher.h"
#include "server/serving/model_registry.h"

namespace catdog::server {

struct ServingEngineOptions {
  common::ClassifierOptions classifier;
  BatcherOptions batcher;
  int max_images_per_request = 256;
  // Images larger than this (width x height from the header, read before
  // any pixel is decoded) fail on their own: decompression bombs.
  int64_t max_image_pixels = 50'000'000;
  // Requests accepted but not yet preprocessed; beyond: RESOURCE_EXHAUSTED.
  int max_pending_requests = 256;
  int preprocess_threads = 0;  // decode + resize threads; 0 = one per core
  // Where a model id's checkpoint file is (a file id is its own path).
  // Required for job checkpoint ids.
  std::function<absl::StatusOr<std::string>(const api::ModelId&)> resolve;
  // Called by Promote after a model loaded and before it serves (may be
  // empty); an error cancels the promotion.
  std::function<absl::Status(const api::ModelId&, const std::string& path)> record;
  // Called after every swap, on the promoting thread (may be empty).
  std::function<void(const ServingModel&)> on_serving;
};

// One image of a request: encoded bytes, or the model's input itself. The
// views must stay valid until `done` is called.
struct ImageInput {
  std::string_view id;
  std::string_view data;  // encoded JPEG, PNG, ...
  // When set instead of `data`: image_size x image_size CV_32FC3, the values
  // the network takes (after scaling to [0, 1] and any normalisation).
  cv::Mat pixels;
};

struct CallInfo {
  absl::Time deadline = absl::InfiniteFuture();
  std::function<bool()> cancelled;  // optional: true once the caller went away
};

class ServingEngine {
 public:
  using ClassifyDone = std::function<void(absl::StatusOr<common::ClassifyResult>)>;

  // INVALID_ARGUMENT for bad options. Starts the preprocessing and batcher threads.
  static absl::StatusOr<std::unique_ptr<ServingEngine>> Create(ServingEngineOptions options);
  ~ServingEngine();
  ServingEngine(const ServingEngine&) = delete;
  ServingEngine& operator=(const ServingEngine&) = delete;

  void Classify(std::vector<ImageInput> images, CallInfo call, ClassifyDone done)
      ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<std::shared_ptr<const ServingModel>> Promote(const api::ModelId& id);
  // Auto-promote's rule: promotes `id` when nothing is served, when
  // `valid_accuracy` beats the serving model's validation accuracy, or when
  // it is at least `min_accuracy` (0: no such floor). Returns what it did
  // and why, in words; errors as Promote.
  absl::StatusOr<std::string> PromoteIfBetter(const api::ModelId& id, double valid_accuracy,
                                              double min_accuracy);
  // As Promote, without the record hook: serves a model chosen earlier
  // again (after a restart).
  absl::StatusOr<std::shared_ptr<const ServingModel>> Restore(const api::ModelId& id);
  // Null when nothing is being served.
  std::shared_ptr<const ServingModel> Current() const { return registry_.Current(); }
  // The model being served, or the one "no model" status (FAILED_PRECONDITION).
  absl::StatusOr<std::shared_ptr<const ServingModel>> CurrentOrError() const;

  common::ServingStats Stats() const;

  // Refuses new requests, finishes those already accepted, joins the threads.
  // Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Request;
  explicit ServingEngine(ServingEngineOptions options);
  void PreprocessLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void Preprocess(std::unique_ptr<Request> request);
  absl::StatusOr<std::shared_ptr<const ServingModel>> Serve(const api::ModelId& id, bool record);

  const ServingEngineOptions options_;
  ModelRegistry registry_;
  std::unique_ptr<DynamicBatcher> batcher_;
  std::atomic<int64_t> requests_{0};

  absl::Mutex mu_;
  std::deque<std::unique_ptr<Request>> pending_ ABSL_GUARDED_BY(mu_);  // waiting for preprocessing
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::vector<std::thread> threads_;  // last: started after everything above
};

}  // namespace catdog::server
