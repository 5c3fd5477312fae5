// The serving model. Promote() loads a checkpoint off to the side, then swaps
// a shared pointer under the lock, so a swap never blocks or fails requests:
// each request holds the ServingModel it started with until it finishes.
//
// Thread-safe. Errors from Promote: those of Classifier::Load (NOT_FOUND,
// INVALID_ARGUMENT, FAILED_PRECONDITION), or the commit hook's.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "api/model_id.h"
#include "common/ml/classifier.h"

namespace catdog::server {

struct ServingModel {
  api::ModelId id;
  std::string path;  // the checkpoint file
  std::shared_ptr<const common::Classifier> classifier;
};

class ModelRegistry {
 public:
  explicit ModelRegistry(common::ClassifierOptions options) : options_(std::move(options)) {}
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // Loads `path`, then runs `commit` (may be empty; e.g. records the choice
  // so a restart serves the same model) and swaps only when it succeeds.
  // Promotions are serialised, so the commit order is the swap order.
  absl::StatusOr<std::shared_ptr<const ServingModel>> Promote(const api::ModelId& id,
                                                              const std::string& path,
                                                              const std::function<absl::Status()>& commit)
      ABSL_LOCKS_EXCLUDED(mu_, promote_mu_);
  // Null when nothing is being served.
  std::shared_ptr<const ServingModel> Current() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const common::ClassifierOptions options_;

  absl::Mutex promote_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::shared_ptr<const ServingModel> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace catdog::server
