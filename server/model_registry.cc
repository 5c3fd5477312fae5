#include "server/model_registry.h"

#include <spdlog/spdlog.h>

#include "common/log_format.h"

namespace catdog::server {

absl::StatusOr<std::shared_ptr<const ServingModel>> ModelRegistry::Promote(
    const std::string& model_id, const std::string& path) {
  absl::MutexLock promote_lock(&promote_mu_);
  // Loading takes seconds for a big model; requests keep using the old one.
  absl::StatusOr<std::unique_ptr<common::Classifier>> classifier =
      common::Classifier::Load(path, options_);
  if (!classifier.ok()) return classifier.status();
  auto model = std::make_shared<ServingModel>();
  model->id = model_id;
  model->classifier = std::move(classifier).value();
  if (store_ != nullptr) {
    if (absl::Status s = store_->SetServingModel({model_id, path}); !s.ok()) return s;
  }
  {
    absl::MutexLock lock(&mu_);
    current_ = model;
  }
  spdlog::info("serving model {} ({}, {} classes, {} px; {})", model_id, path,
               model->classifier->card().class_names.size(), model->classifier->image_size(),
               model->classifier->engine());
  return std::shared_ptr<const ServingModel>(model);
}

std::shared_ptr<const ServingModel> ModelRegistry::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

}  // namespace catdog::server
