#include "server/proto_conversion.h"

#include <type_traits>

#include "absl/strings/str_cat.h"

namespace catdog::server {

JobSpec JobSpecFromProto(const v1::TrainingConfig& p) {
  JobSpec spec;
  common::TrainConfig& c = spec.config;
  c.dataset_root = p.dataset();
  c.test_root = p.test_dataset();
  if (p.has_image_size()) c.preprocessing.image_size = p.image_size();
  if (p.has_normalize()) c.preprocessing.normalize = p.normalize();
  if (p.has_batch_size()) c.batch_size = p.batch_size();
  if (p.has_epochs()) c.epochs = p.epochs();
  if (p.has_learning_rate()) c.learning_rate = p.learning_rate();
  if (p.has_weight_decay()) c.weight_decay = p.weight_decay();
  if (p.has_valid_fraction()) c.valid_fraction = p.valid_fraction();
  if (p.has_split_seed()) c.split_seed = p.split_seed();
  if (p.has_seed()) c.seed = p.seed();
  if (p.has_flip_probability()) c.augment.flip_probability = p.flip_probability();
  if (p.has_crop_padding()) c.augment.crop_padding = p.crop_padding();
  if (p.has_rotation_degrees()) c.augment.rotation_degrees = p.rotation_degrees();
  if (p.has_grayscale_probability()) c.augment.grayscale_probability = p.grayscale_probability();
  if (p.has_lr_patience()) c.lr_patience = p.lr_patience();
  if (p.has_lr_factor()) c.lr_factor = p.lr_factor();
  if (p.has_early_stop_patience()) c.early_stop_patience = p.early_stop_patience();
  if (p.has_arch()) c.arch = p.arch();
  if (p.has_width()) c.width = p.width();
  if (p.has_device()) c.device = p.device();
  if (p.has_threads()) c.threads = p.threads();
  if (p.has_progress_interval()) c.progress_interval = p.progress_interval();
  if (p.has_loader_workers()) c.loader_workers = p.loader_workers();
  if (p.has_cache_budget_mb()) c.cache_budget_mb = p.cache_budget_mb();
  if (p.has_precision()) c.precision = p.precision();
  if (p.has_auto_promote()) spec.auto_promote = p.auto_promote();
  return spec;
}

v1::TrainingConfig JobSpecToProto(const JobSpec& spec) {
  const common::TrainConfig& c = spec.config;
  v1::TrainingConfig p;
  p.set_dataset(c.dataset_root);
  p.set_test_dataset(c.test_root);
  p.set_image_size(c.preprocessing.image_size);
  p.set_normalize(c.preprocessing.normalize);
  p.set_batch_size(c.batch_size);
  p.set_epochs(c.epochs);
  p.set_learning_rate(c.learning_rate);
  p.set_weight_decay(c.weight_decay);
  p.set_valid_fraction(c.valid_fraction);
  p.set_split_seed(c.split_seed);
  p.set_seed(c.seed);
  p.set_flip_probability(c.augment.flip_probability);
  p.set_crop_padding(c.augment.crop_padding);
  p.set_rotation_degrees(c.augment.rotation_degrees);
  p.set_grayscale_probability(c.augment.grayscale_probability);
  p.set_lr_patience(c.lr_patience);
  p.set_lr_factor(c.lr_factor);
  p.set_early_stop_patience(c.early_stop_patience);
  p.set_arch(c.arch);
  p.set_width(c.width);
  p.set_device(c.device);
  p.set_threads(c.threads);
  p.set_progress_interval(c.progress_interval);
  p.set_loader_workers(c.loader_workers);
  p.set_cache_budget_mb(c.cache_budget_mb);
  p.set_precision(c.precision);
  p.set_auto_promote(spec.auto_promote);
  return p;
}

v1::JobState JobStateToProto(JobState state) {
  switch (state) {
    case JobState::kQueued: return v1::QUEUED;
    case JobState::kRunning: return v1::RUNNING;
    case JobState::kSucceeded: return v1::SUCCEEDED;
    case JobState::kFailed: return v1::FAILED;
    case JobState::kCancelled: return v1::CANCELLED;
    case JobState::kInterrupted: return v1::INTERRUPTED;
  }
  return v1::JOB_STATE_UNSPECIFIED;
}

absl::StatusOr<JobState> JobStateFromProto(v1::JobState state) {
  switch (state) {
    case v1::QUEUED: return JobState::kQueued;
    case v1::RUNNING: return JobState::kRunning;
    case v1::SUCCEEDED: return JobState::kSucceeded;
    case v1::FAILED: return JobState::kFailed;
    case v1::CANCELLED: return JobState::kCancelled;
    case v1::INTERRUPTED: return JobState::kInterrupted;
    default: return absl::InvalidArgumentError(absl::StrCat("unknown job state ", state));
  }
}

v1::EpochMetrics EpochMetricsToProto(const common::EpochMetrics& m) {
  v1::EpochMetrics p;
  p.set_epoch(m.epoch);
  p.set_train_loss(m.train_loss);
  p.set_valid_loss(m.valid_loss);
  p.set_valid_accuracy(m.valid_accuracy);
  p.set_learning_rate(m.learning_rate);
  p.set_early_stop_trigger(m.early_stop_trigger);
  p.set_seconds(m.seconds);
  p.set_train_images_per_second(m.train_images_per_second);
  p.set_is_best(m.is_best);
  return p;
}

v1::EvalMetrics EvalMetricsToProto(const TestEvaluation& t, const std::vector<std::string>& class_names) {
  v1::EvalMetrics p;
  p.set_checkpoint_kind(t.kind);
  p.set_loss(t.metrics.loss);
  p.set_accuracy(t.metrics.accuracy);
  p.set_count(t.metrics.count);
  for (size_t c = 0; c < t.metrics.precision.size(); ++c) {
    v1::ClassMetrics* cm = p.add_per_class();
    cm->set_name(c < class_names.size() ? class_names[c] : absl::StrCat(c));
    cm->set_precision(t.metrics.precision[c]);
    cm->set_recall(t.metrics.recall[c]);
  }
  for (const auto& row : t.metrics.confusion) {
    for (int64_t v : row) p.add_confusion(v);
  }
  return p;
}

v1::Job JobInfoToProto(const JobInfo& job) {
  v1::Job p;
  p.set_id(job.id);
  p.set_state(JobStateToProto(job.state));
  *p.mutable_config() = JobSpecToProto(job.spec);
  p.set_created_unix_ms(job.created_unix_ms);
  p.set_started_unix_ms(job.started_unix_ms);
  p.set_finished_unix_ms(job.finished_unix_ms);
  p.set_error(job.error);
  p.set_epochs_completed(job.epochs_completed);
  p.set_best_epoch(job.best_epoch);
  p.set_best_valid_accuracy(job.best_valid_accuracy);
  for (const TestEvaluation& t : job.test) *p.add_test() = EvalMetricsToProto(t, job.class_names);
  for (const std::string& name : job.class_names) p.add_class_names(name);
  p.set_train_images(job.train_images);
  p.set_valid_images(job.valid_images);
  return p;
}

v1::JobEvent JobEventToProto(const JobEvent& event, const std::vector<std::string>& class_names) {
  v1::JobEvent p;
  p.set_sequence(event.sequence);
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, StateChange>) {
          p.mutable_state()->set_state(JobStateToProto(e.state));
          p.mutable_state()->set_error(e.error);
        } else if constexpr (std::is_same_v<T, common::EpochMetrics>) {
          *p.mutable_epoch() = EpochMetricsToProto(e);
        } else if constexpr (std::is_same_v<T, common::Progress>) {
          v1::Progress* pr = p.mutable_progress();
          pr->set_epoch(e.epoch);
          pr->set_batches_done(e.batches_done);
          pr->set_batches_total(e.batches_total);
          pr->set_running_loss(e.running_loss);
        } else {
          *p.mutable_test_evaluation() = EvalMetricsToProto(e, class_names);
        }
      },
      event.payload);
  return p;
}

v1::Model CheckpointToProto(const CheckpointInfo& c, const JobInfo* job, bool serving) {
  v1::Model p;
  p.set_id(absl::StrCat(c.job_id, "/", c.kind));
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

v1::Model ServingModelToProto(const std::string& id, const std::string& path,
                              const common::ModelCard& card) {
  v1::Model p;
  p.set_id(id);
  const size_t slash = id.find('/');
  if (slash != std::string::npos && id.rfind("file:", 0) != 0) p.set_job_id(id.substr(0, slash));
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

void BatcherStatsToProto(const BatcherStats& s, v1::Stats* out) {
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
}

}  // namespace catdog::server
