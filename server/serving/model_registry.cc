#include "server/serving/model_registry.h"

#include <spdlog/spdlog.h>

#include "common/data/log_format.h"

namespace catdog::server {

absl::StatusOr<std::shared_ptr<const ServingModel>> ModelRegistry::Promote(
    const api::ModelId& id, const std::string& path, const std::function<absl::Status()>& commit) {
  absl::MutexLock promote_lock(&promote_mu_);
  // Loading takes seconds for a big model; requests keep using the old one.
  absl::StatusOr<std::unique_ptr<common::Classifier>> classifier = common::Classifier::Load(path, options_);
  if (!classifier.ok()) return classifier.status();
  auto model = std::make_shared<ServingModel>(ServingModel{id, path, std::move(classifier).value()});
  if (commit) {
    if (absl::Status s = commit(); !s.ok()) return s;
  }
  {
    absl::MutexLock lock(&mu_);
    current_ = model;
  }
  spdlog::info("serving model {} ({}, {} classes, {} px; {})", id.ToString(), path,
               model->classifier->card().class_names.size(), model->classifier->image_size(),
               model->classifier->engine());
  return std::shared_ptr<const ServingModel>(model);
}

std::shared_ptr<const ServingModel> ModelRegistry::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

}  // namespace catdog::server
