#include "common/ml/model_evaluation.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/data/confinement.h"
#include "common/data/image_folder.h"
#include "common/data/image_io.h"
#include "common/data/status_macros.h"
#include "common/data/transforms.h"

namespace catdog::common {

absl::StatusOr<EvaluationReport> EvaluateOnFolder(const Classifier& classifier, const std::string& dataset_root,
                                                  const EvaluationOptions& options,
                                                  const EvaluationProgress& progress, const StopToken* stop) {
  if (options.batch_size < 1 || options.max_mistakes < 0 || options.thumbnail_size < 16) {
    return absl::InvalidArgumentError("evaluation needs batch size >= 1, mistakes >= 0, thumbnails >= 16 px");
  }
  CATDOG_ASSIGN_OR_RETURN(ImageFolder folder, ScanImageFolder(dataset_root, options.confine_root));
  // The dataset's labels as the model's class indices, by name.
  const std::vector<std::string>& names = classifier.card().class_names;
  std::vector<int> to_model;
  for (const std::string& c : folder.classes) {
    const auto it = std::find(names.begin(), names.end(), c);
    if (it == names.end()) {
      return absl::InvalidArgumentError(absl::StrCat("the dataset's class '", c, "' is not one the model knows (",
                                                     absl::StrJoin(names, ", "), ")"));
    }
    to_model.push_back(static_cast<int>(it - names.begin()));
  }

  const size_t k = names.size();
  EvaluationReport report;
  report.metrics.confusion.assign(k, std::vector<int64_t>(k, 0));
  double loss_sum = 0;
  std::vector<Mistake> mistakes;  // every one, thumbnails made for the top ones at the end
  const int64_t total = static_cast<int64_t>(folder.samples.size());
  for (size_t begin = 0; begin < folder.samples.size(); begin += static_cast<size_t>(options.batch_size)) {
    if (stop != nullptr && stop->stop_requested()) return absl::CancelledError("evaluation cancelled");
    const size_t end = std::min(folder.samples.size(), begin + static_cast<size_t>(options.batch_size));
    std::vector<cv::Mat> images;
    std::vector<const Sample*> samples;
    for (size_t i = begin; i < end; ++i) {
      const Sample& s = folder.samples[i];
      absl::StatusOr<std::string> bytes =
          options.confine_root.empty() ? ReadFileBytes(s.path) : ReadFileWithin(options.confine_root, s.path);
      absl::StatusOr<cv::Mat> image = bytes.ok() ? classifier.Preprocess(*bytes) : bytes.status();
      if (!image.ok()) {
        ++report.skipped;
        continue;
      }
      images.push_back(*std::move(image));
      samples.push_back(&s);
    }
    if (!images.empty()) {
      CATDOG_ASSIGN_OR_RETURN(std::vector<Prediction> predictions, classifier.Predict(images));
      for (size_t i = 0; i < predictions.size(); ++i) {
        const Prediction& p = predictions[i];
        const int truth = to_model[static_cast<size_t>(samples[i]->label)];
        ++report.metrics.confusion[static_cast<size_t>(truth)][static_cast<size_t>(p.class_index)];
        loss_sum -= std::log(std::max(p.probabilities[static_cast<size_t>(truth)], 1e-12f));
        ++report.metrics.count;
        if (p.class_index != truth) {
          mistakes.push_back({std::filesystem::path(samples[i]->path).lexically_relative(folder.root).string(), truth,
                              p.class_index, p.probabilities[static_cast<size_t>(p.class_index)], ""});
        }
      }
    }
    if (progress) progress(static_cast<int64_t>(end), total);
  }
  if (report.metrics.count == 0) {
    return absl::InvalidArgumentError(absl::StrCat("no image in the dataset decodes (", report.skipped, " files)"));
  }
  report.metrics.loss = loss_sum / static_cast<double>(report.metrics.count);
  FinishEvalMetrics(report.metrics);

  std::stable_sort(mistakes.begin(), mistakes.end(),
                   [](const Mistake& a, const Mistake& b) { return a.confidence > b.confidence; });
  mistakes.resize(std::min(mistakes.size(), static_cast<size_t>(options.max_mistakes)));
  for (Mistake& m : mistakes) {
    const std::string path = (std::filesystem::path(folder.root) / m.path).string();
    absl::StatusOr<cv::Mat> image = ReadImageFile(path, options.thumbnail_size, options.confine_root);
    if (!image.ok()) continue;
    absl::StatusOr<std::string> jpeg =
        EncodeImage(Resize(*image, options.thumbnail_size, options.thumbnail_size), ".jpg");
    if (jpeg.ok()) m.thumbnail_jpeg = *std::move(jpeg);
  }
  report.mistakes = std::move(mistakes);
  return report;
}

}  // namespace catdog::common
