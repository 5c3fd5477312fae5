#include "api/model_conversion.h"

#include "api/training_conversion.h"

namespace catdog::api {

v1::Model CheckpointToProto(const common::CheckpointInfo& c, const common::JobInfo* job, bool serving) {
  v1::Model p;
  p.set_id(ModelId::Checkpoint(c.job_id, c.kind).ToString());
  p.set_job_id(c.job_id);
  p.set_kind(c.kind);
  p.set_path(c.path);
  p.set_epoch(c.metrics.epoch);
  p.set_valid_accuracy(c.metrics.valid_accuracy);
  p.set_valid_loss(c.metrics.valid_loss);
  if (c.test_accuracy) p.set_test_accuracy(*c.test_accuracy);
  if (job != nullptr) {
    for (const std::string& name : job->class_names) p.add_class_names(name);
    p.set_image_size(job->spec.config.preprocessing.image_size);
  }
  p.set_serving(serving);
  return p;
}

v1::Model ServingModelToProto(const ModelId& id, const std::string& path, const common::ModelCard& card) {
  v1::Model p;
  p.set_id(id.ToString());
  p.set_job_id(id.job_id());
  p.set_kind(card.kind);
  p.set_path(path);
  p.set_epoch(card.metrics.epoch);
  p.set_valid_accuracy(card.metrics.valid_accuracy);
  p.set_valid_loss(card.metrics.valid_loss);
  for (const std::string& name : card.class_names) p.add_class_names(name);
  p.set_image_size(card.preprocessing.image_size);
  p.set_serving(true);
  return p;
}

v1::EvaluationReport EvaluationReportToProto(const common::EvaluationReport& report,
                                             const std::vector<std::string>& class_names) {
  v1::EvaluationReport p;
  *p.mutable_metrics() = EvalMetricsToProto(common::TestEvaluation{"", report.metrics}, class_names);
  for (const common::Mistake& m : report.mistakes) {
    v1::Mistake* out = p.add_mistakes();
    out->set_path(m.path);
    out->set_true_class(class_names.at(static_cast<size_t>(m.true_class)));
    out->set_predicted_class(class_names.at(static_cast<size_t>(m.predicted_class)));
    out->set_confidence(m.confidence);
    out->set_thumbnail(m.thumbnail_jpeg);
  }
  p.set_skipped(report.skipped);
  return p;
}

}  // namespace catdog::api
