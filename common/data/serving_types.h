// Records of the serving path: a prediction, a classified request, and the
// serving counters. No LibTorch, no gRPC: the serving engine produces them
// and api/ puts them on the wire.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace catdog::common {

struct Prediction {
  int class_index = 0;
  std::vector<float> probabilities;  // softmax, one per class
};

// One image of a classification request: a prediction, or why it failed
// (the other images of the request still succeed).
struct ClassifiedImage {
  std::string id;  // echoed from the request
  Prediction prediction;
  std::string error;  // non-empty when this image failed
};

struct ClassifyResult {
  std::string model_id;  // the model that answered (api::ModelId text form)
  std::vector<std::string> class_names;
  std::vector<ClassifiedImage> images;  // in request order
};

struct ServingStats {
  int64_t classify_requests = 0;
  int64_t images = 0;   // images computed
  int64_t batches = 0;  // forward passes
  std::map<int, int64_t> batch_sizes;  // size -> count
  int64_t queue_depth = 0;  // images waiting for a batch now
  int64_t rejected = 0;     // refused: queue full or shutting down
  int64_t expired = 0;      // dropped: deadline passed or caller gone
  std::string serving_model_id;  // empty when none
};

}  // namespace catdog::common
