// Serving-side model: a checkpoint loaded for inference, its preprocessing,
// and a batched forward pass returning class probabilities. The header is
// free of LibTorch so the server can hold classifiers without it.
//
// Thread-safe: Preprocess and Predict may be called concurrently (forward
// runs in eval mode under InferenceMode; weights are never written).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "absl/status/statusor.h"
#include "common/data/model_card.h"
#include "common/data/precision.h"
#include "common/data/serving_types.h"

namespace catdog::common {

struct ClassifierOptions {
  std::string device = "cpu";  // auto | cpu | cuda | cuda:N
  Precision precision = Precision::kFp32;  // bf16 / fp16 need CUDA
};

class Classifier {
 public:
  // Loads the checkpoint and builds its serving form (common/inference_model.h).
  // Errors as LoadCheckpoint / ResolveDevice / InferenceVgg::Build.
  static absl::StatusOr<std::unique_ptr<Classifier>> Load(const std::string& path,
                                                          const ClassifierOptions& options = {});
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  const ModelCard& card() const;
  const std::string& path() const;
  int image_size() const;
  // How the forward pass runs, e.g. "cpu, fp32, batch norm folded, oneDNN
  // prepacked weights".
  const std::string& engine() const;

  // Decode + resize to the model's input size. INVALID_ARGUMENT when the bytes
  // are not a decodable image.
  absl::StatusOr<cv::Mat> Preprocess(std::string_view encoded) const;

  // One forward pass over images from Preprocess (all image_size x image_size),
  // or, mixed in, CV_32FC3 images that already hold the network's input
  // values (scaled and normalised). A model whose card sets
  // preprocessing.tta_flip answers the mean of each image's and its mirror's
  // probabilities (one pass over twice the images). RESOURCE_EXHAUSTED when
  // the device runs out of memory.
  absl::StatusOr<std::vector<Prediction>> Predict(const std::vector<cv::Mat>& images) const;

 private:
  struct State;
  explicit Classifier(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace catdog::common
