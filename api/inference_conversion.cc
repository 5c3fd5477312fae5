#include "api/inference_conversion.h"

namespace catdog::api {

v1::ClassifyResponse ClassifyResultToProto(const common::ClassifyResult& result) {
  v1::ClassifyResponse p;
  p.set_model_id(result.model_id);
  for (const std::string& name : result.class_names) p.add_class_names(name);
  for (const common::ClassifiedImage& image : result.images) {
    v1::ImageResult* r = p.add_results();
    r->set_id(image.id);
    if (!image.error.empty()) {
      r->set_error(image.error);
      continue;
    }
    const int index = image.prediction.class_index;
    r->set_class_index(index);
    if (index >= 0 && static_cast<size_t>(index) < result.class_names.size()) {
      r->set_label(result.class_names[static_cast<size_t>(index)]);
    }
    for (float probability : image.prediction.probabilities) r->add_probabilities(probability);
  }
  return p;
}

void ServingStatsToProto(const common::ServingStats& s, v1::Stats* out) {
  out->set_classify_requests(s.classify_requests);
  out->set_images(s.images);
  out->set_batches(s.batches);
  for (const auto& [size, count] : s.batch_sizes) {
    v1::BatchSizeCount* b = out->add_batch_sizes();
    b->set_batch_size(size);
    b->set_count(count);
  }
  out->set_queue_depth(s.queue_depth);
  out->set_rejected(s.rejected);
  out->set_expired(s.expired);
  out->set_serving_model_id(s.serving_model_id);
}

}  // namespace catdog::api
