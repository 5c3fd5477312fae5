#include "common/data/metrics.h"

#include "common/data/json_schema.h"

namespace catdog::common {

double F1(double precision, double recall) {
  return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
}

void FinishEvalMetrics(EvalMetrics& m) {
  const size_t k = m.confusion.size();
  m.precision.assign(k, 0.0);
  m.recall.assign(k, 0.0);
  int64_t correct = 0;
  for (size_t c = 0; c < k; ++c) {
    int64_t predicted_c = 0, actual_c = 0;
    for (size_t o = 0; o < k; ++o) {
      predicted_c += m.confusion[o][c];
      actual_c += m.confusion[c][o];
    }
    correct += m.confusion[c][c];
    if (predicted_c > 0) m.precision[c] = static_cast<double>(m.confusion[c][c]) / predicted_c;
    if (actual_c > 0) m.recall[c] = static_cast<double>(m.confusion[c][c]) / actual_c;
  }
  m.accuracy = m.count > 0 ? static_cast<double>(correct) / m.count : 0.0;
}

std::string EvalMetricsToJson(const EvalMetrics& metrics) { return nlohmann::json(metrics).dump(); }

absl::StatusOr<EvalMetrics> EvalMetricsFromJson(const std::string& json) {
  return ParseJson<EvalMetrics>(json, "evaluation metrics");
}

}  // namespace catdog::common
