// Plain metric records produced by the trainer and evaluator. No LibTorch:
// the server stores and streams these without the ML headers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace catdog::common {

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0.0;
  double valid_loss = 0.0;
  double valid_accuracy = 0.0;
  double learning_rate = 0.0;  // the rate used during this epoch
  int64_t early_stop_trigger = 0;  // after this epoch's update
  double seconds = 0.0;            // wall time of training + validation
  double train_images_per_second = 0.0;
  double data_wait_seconds = 0.0;  // time the training loop waited for batches
  bool is_best = false;            // new best valid accuracy
  // The epoch the run is to end at, as of this epoch: --epochs, or what the
  // time budget planned (early stopping may still end it sooner).
  int64_t planned_epochs = 0;
};

struct EvalMetrics {
  double loss = 0.0;
  double accuracy = 0.0;
  int64_t count = 0;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  std::vector<double> precision;                // per class; 0 where undefined
  std::vector<double> recall;
};

// A wrong answer of an evaluation (common/ml/model_evaluation.h).
struct Mistake {
  std::string path;  // relative to the dataset root
  int true_class = 0;       // indices into the model's class names
  int predicted_class = 0;
  float confidence = 0;     // probability of the predicted class
  std::string thumbnail_jpeg;
};

struct EvaluationReport {
  EvalMetrics metrics;  // over the model's classes; loss is the mean cross-entropy
  std::vector<Mistake> mistakes;  // most confident first
  int64_t skipped = 0;            // files that did not decode
};

// 2PR / (P + R), 0 when both are 0.
double F1(double precision, double recall);

// Fills precision/recall/accuracy from `confusion` (count must be set).
void FinishEvalMetrics(EvalMetrics& metrics);

std::string EvalMetricsToJson(const EvalMetrics& metrics);
absl::StatusOr<EvalMetrics> EvalMetricsFromJson(const std::string& json);

struct Progress {
  int64_t epoch = 0;
  int64_t batches_done = 0;
  int64_t batches_total = 0;
  double running_loss = 0.0;  // mean train loss over the batches done
};

}  // namespace catdog::common
