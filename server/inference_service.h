// catdog.v1.InferenceService: decodes each image with the serving model's
// preprocessing on the handler thread, hands the images to the dynamic
// batcher and waits for their predictions.
#pragma once

#include <atomic>
#include <cstdint>

#include "catdog/v1/catdog.grpc.pb.h"
#include "server/dynamic_batcher.h"
#include "server/model_registry.h"

namespace catdog::server {

class InferenceServiceImpl final : public v1::InferenceService::Service {
 public:
  struct Options {
    int max_images_per_request = 256;
  };
  // Both must outlive the service.
  InferenceServiceImpl(ModelRegistry* registry, DynamicBatcher* batcher, const Options& options)
      : registry_(registry), batcher_(batcher), options_(options) {}

  grpc::Status Classify(grpc::ServerContext* context, const v1::ClassifyRequest* request,
                        v1::ClassifyResponse* response) override;

  int64_t requests() const { return requests_.load(std::memory_order_relaxed); }

 private:
  ModelRegistry* const registry_;
  DynamicBatcher* const batcher_;
  const Options options_;
  std::atomic<int64_t> requests_{0};
};

}  // namespace catdog::server
