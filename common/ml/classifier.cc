#include "common/ml/classifier.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "common/data/image_io.h"
#include "common/data/status_macros.h"
#include "common/data/transforms.h"
#include "common/ml/checkpoint.h"
#include "common/ml/device.h"
#include "common/ml/inference_model.h"
#include "common/ml/tensor_conversion.h"
#include "common/ml/torch_status.h"

namespace catdog::common {

struct Classifier::State {
  std::string path;
  c10::Device device{c10::kCPU};
  ModelCard card;
  InferenceVgg model;
};

Classifier::Classifier(std::unique_ptr<State> state) : state_(std::move(state)) {}
Classifier::~Classifier() = default;

absl::StatusOr<std::unique_ptr<Classifier>> Classifier::Load(const std::string& path,
                                                             const ClassifierOptions& options) {
  auto state = std::make_unique<State>();
  state->path = path;
  CATDOG_ASSIGN_OR_RETURN(state->device, ResolveDevice(options.device));
  CATDOG_ASSIGN_OR_RETURN(LoadedCheckpoint checkpoint, LoadCheckpoint(path, state->device));
  state->card = checkpoint.card;
  InferenceOptions inference;
  inference.precision = options.precision;
  inference.probe_image_size = checkpoint.card.preprocessing.image_size;
  CATDOG_ASSIGN_OR_RETURN(state->model, InferenceVgg::Build(*checkpoint.model, inference));
  checkpoint.model = nullptr;
  ReleaseFreeHostMemory();  // the training module and the load-time copies
  return std::unique_ptr<Classifier>(new Classifier(std::move(state)));
}

const ModelCard& Classifier::card() const { return state_->card; }
const std::string& Classifier::engine() const { return state_->model.description(); }
const std::string& Classifier::path() const { return state_->path; }
int Classifier::image_size() const { return card().preprocessing.image_size; }

absl::StatusOr<cv::Mat> Classifier::Preprocess(std::string_view encoded) const {
  CATDOG_ASSIGN_OR_RETURN(cv::Mat rgb, DecodeImageAtLeast(encoded, image_size()));
  return Resize(rgb, image_size(), image_size());
}

absl::StatusOr<std::vector<Prediction>> Classifier::Predict(const std::vector<cv::Mat>& images) const {
  if (images.empty()) return std::vector<Prediction>{};
  bool all_bytes = true;
  for (const cv::Mat& img : images) {
    if (img.rows != image_size() || img.cols != image_size() ||
        (img.type() != CV_8UC3 && img.type() != CV_32FC3)) {
      return absl::InvalidArgumentError(absl::StrCat("Predict expects ", image_size(), "x", image_size(),
                                                     " RGB uint8 images from Preprocess, or float inputs"));
    }
    all_bytes = all_bytes && img.type() == CV_8UC3;
  }
  return TorchCall("classify", [&]() -> std::vector<Prediction> {
    torch::InferenceMode guard;
    at::Tensor batch;
    if (all_bytes) {
      batch = ImagesToBatch(images, card().preprocessing);
    } else {
      std::vector<at::Tensor> inputs;
      for (const cv::Mat& img : images) {
        inputs.push_back(img.type() == CV_8UC3
                             ? ImagesToBatch({img}, card().preprocessing)[0]
                             : torch::from_blob(img.data, {img.rows, img.cols, 3}, torch::kFloat32).permute({2, 0, 1}));
      }
      batch = torch::stack(inputs).contiguous();
    }
    batch = batch.to(state_->device);
    at::Tensor probs;
    if (card().preprocessing.tta_flip) {  // one pass over the images and their mirrors
      const int64_t n = batch.size(0);
      const at::Tensor both = torch::softmax(state_->model.Forward(torch::cat({batch, batch.flip({3})})), 1);
      probs = ((both.slice(0, 0, n) + both.slice(0, n)) * 0.5).to(torch::kCPU).contiguous();
    } else {
      probs = torch::softmax(state_->model.Forward(batch), 1).to(torch::kCPU).contiguous();
    }
    const int64_t n = probs.size(0), k = probs.size(1);
    const float* p = probs.data_ptr<float>();
    std::vector<Prediction> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      out[i].probabilities.assign(p + i * k, p + (i + 1) * k);
      out[i].class_index = static_cast<int>(
          std::max_element(out[i].probabilities.begin(), out[i].probabilities.end()) -
          out[i].probabilities.begin());
    }
    return out;
  });
}

}  // namespace catdog::common
