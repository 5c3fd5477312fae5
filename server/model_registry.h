// The serving model. Promote() loads a checkpoint off to the side, then swaps
// a shared pointer under the lock, so a swap never blocks or fails requests:
// each request holds the ServingModel it started with until it finishes.
//
// Thread-safe. Errors from Promote: those of Classifier::Load (NOT_FOUND,
// INVALID_ARGUMENT, FAILED_PRECONDITION), or the store's.
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/classifier.h"
#include "server/job_store.h"

namespace catdog::server {

struct ServingModel {
  std::string id;  // "<job>/best", "<job>/last" or "file:<path>"
  std::shared_ptr<const common::Classifier> classifier;
};

class ModelRegistry {
 public:
  // `store` (may be null) records each promotion so a restart serves the same
  // model; it must outlive the registry. `options` as Classifier::Load.
  ModelRegistry(JobStore* store, common::ClassifierOptions options)
      : store_(store), options_(std::move(options)) {}
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  absl::StatusOr<std::shared_ptr<const ServingModel>> Promote(const std::string& model_id,
                                                              const std::string& path)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Null when nothing is being served.
  std::shared_ptr<const ServingModel> Current() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  JobStore* const store_;
  const common::ClassifierOptions options_;

  mutable absl::Mutex mu_;
  // Serialises promotions so the store and the pointer agree on the winner.
  absl::Mutex promote_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::shared_ptr<const ServingModel> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace catdog::server
