#include "api/training_conversion.h"

#include <type_traits>
#include <variant>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/data/status_macros.h"
#include "common/data/train_config_schema.h"
#include "common/data/train_preset.h"

namespace catdog::api {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Reflection;

// TrainingConfig fields that are not TrainConfig members.
constexpr const char* kAutoPromote = "auto_promote";

// The protobuf C++ type a TrainConfig member travels as.
template <typename T>
constexpr FieldDescriptor::CppType WireType() {
  if constexpr (std::is_same_v<T, int>) {
    return FieldDescriptor::CPPTYPE_INT32;
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return FieldDescriptor::CPPTYPE_INT64;
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    return FieldDescriptor::CPPTYPE_UINT64;
  } else if constexpr (std::is_same_v<T, double>) {
    return FieldDescriptor::CPPTYPE_DOUBLE;
  } else if constexpr (std::is_same_v<T, bool>) {
    return FieldDescriptor::CPPTYPE_BOOL;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return FieldDescriptor::CPPTYPE_STRING;
  } else {
    static_assert(std::is_same_v<T, std::array<float, 3>>, "a TrainConfigFieldRef type without a wire type");
    return FieldDescriptor::CPPTYPE_FLOAT;  // repeated
  }
}

const FieldDescriptor* WireField(const common::TrainConfigField& field) {
  return v1::TrainingConfig::descriptor()->FindFieldByName(field.wire_name);
}

void SetWire(const Reflection& r, v1::TrainingConfig& p, const FieldDescriptor* f, int v) { r.SetInt32(&p, f, v); }
void SetWire(const Reflection& r, v1::TrainingConfig& p, const FieldDescriptor* f, int64_t v) { r.SetInt64(&p, f, v); }
void SetWire(const Reflection& r, v1::TrainingConfig& p, const FieldDescriptor* f, uint64_t v) { r.SetUInt64(&p, f, v); }
void SetWire(const Reflection& r, v1::TrainingConfig& p, const FieldDescriptor* f, double v) { r.SetDouble(&p, f, v); }
void SetWire(const Reflection& r, v1::TrainingConfig& p, const FieldDescriptor* f, bool v) { r.SetBool(&p, f, v); }
void SetWire(const Reflection& r, v1::TrainingConfig& p, const FieldDescriptor* f, const std::string& v) {
  r.SetString(&p, f, v);
}
void SetWire(const Reflection& r, v1::TrainingConfig& p, const FieldDescriptor* f,
             const std::array<float, 3>& v) {
  r.ClearField(&p, f);
  for (float x : v) r.AddFloat(&p, f, x);
}

void GetWire(const Reflection& r, const v1::TrainingConfig& p, const FieldDescriptor* f, int& v) { v = r.GetInt32(p, f); }
void GetWire(const Reflection& r, const v1::TrainingConfig& p, const FieldDescriptor* f, int64_t& v) { v = r.GetInt64(p, f); }
void GetWire(const Reflection& r, const v1::TrainingConfig& p, const FieldDescriptor* f, uint64_t& v) { v = r.GetUInt64(p, f); }
void GetWire(const Reflection& r, const v1::TrainingConfig& p, const FieldDescriptor* f, double& v) { v = r.GetDouble(p, f); }
void GetWire(const Reflection& r, const v1::TrainingConfig& p, const FieldDescriptor* f, bool& v) { v = r.GetBool(p, f); }
void GetWire(const Reflection& r, const v1::TrainingConfig& p, const FieldDescriptor* f, std::string& v) {
  v = r.GetString(p, f);
}

}  // namespace

absl::StatusOr<common::JobSpec> JobSpecFromProto(const v1::TrainingConfig& p) {
  common::JobSpec spec;
  // Unset fields take the preset's values, set ones override them.
  if (p.has_preset()) CATDOG_RETURN_IF_ERROR(common::ApplyTrainPreset(p.preset(), spec.config));
  const Reflection& r = *p.GetReflection();
  for (const common::TrainConfigField& field : common::TrainConfigFields()) {
    if (field.wire_name == nullptr) continue;
    const FieldDescriptor* f = WireField(field);
    if (f == nullptr) return absl::InternalError(absl::StrCat("TrainingConfig has no field ", field.wire_name));
    absl::Status status;
    std::visit(
        [&](auto* member) {
          using T = std::remove_pointer_t<decltype(member)>;
          if constexpr (std::is_same_v<T, std::array<float, 3>>) {
            const int n = r.FieldSize(p, f);
            if (n == 0) return;  // unset: the default
            if (n != 3) {
              status = absl::InvalidArgumentError(
                  absl::StrCat(field.wire_name, ": needs 3 values (R, G, B), got ", n));
              return;
            }
            for (int i = 0; i < 3; ++i) (*member)[i] = r.GetRepeatedFloat(p, f, i);
          } else {
            // Fields without presence (the dataset paths) are always read.
            if (f->has_presence() && !r.HasField(p, f)) return;
            GetWire(r, p, f, *member);
          }
        },
        field.ref(spec.config));
    if (!status.ok()) return status;
  }
  if (p.has_auto_promote()) spec.auto_promote = p.auto_promote();
  return spec;
}

v1::TrainingConfig JobSpecToProto(const common::JobSpec& spec) {
  v1::TrainingConfig p;
  const Reflection& r = *p.GetReflection();
  common::TrainConfig config = spec.config;  // the table hands out mutable member pointers
  for (const common::TrainConfigField& field : common::TrainConfigFields()) {
    if (field.wire_name == nullptr) continue;
    const FieldDescriptor* f = WireField(field);
    if (f == nullptr) continue;  // CheckTrainingConfigSchema reports it
    std::visit([&](auto* member) { SetWire(r, p, f, *member); }, field.ref(config));
  }
  p.set_auto_promote(spec.auto_promote);
  return p;
}

absl::Status CheckTrainingConfigSchema() {
  const google::protobuf::Descriptor* d = v1::TrainingConfig::descriptor();
  absl::flat_hash_set<std::string> covered = {kAutoPromote};
  common::TrainConfig config;
  for (const common::TrainConfigField& field : common::TrainConfigFields()) {
    if (field.wire_name == nullptr) continue;
    const FieldDescriptor* f = d->FindFieldByName(field.wire_name);
    if (f == nullptr) {
      return absl::InternalError(absl::StrCat(field.name, ": catdog.v1.TrainingConfig has no field ",
                                              field.wire_name));
    }
    absl::Status status;
    std::visit(
        [&](auto* member) {
          using T = std::remove_pointer_t<decltype(member)>;
          const bool repeated = std::is_same_v<T, std::array<float, 3>>;
          if (f->cpp_type() != WireType<T>() || f->is_repeated() != repeated) {
            status = absl::InternalError(absl::StrCat(field.name, ": wire field ", field.wire_name,
                                                      " has type ", f->cpp_type_name()));
          }
        },
        field.ref(config));
    if (!status.ok()) return status;
    covered.insert(field.wire_name);
  }
  for (int i = 0; i < d->field_count(); ++i) {
    if (!covered.contains(d->field(i)->name())) {
      return absl::InternalError(absl::StrCat("catdog.v1.TrainingConfig.", d->field(i)->name(),
                                              " is in no TrainConfig table row"));
    }
  }
  return absl::OkStatus();
}

v1::JobState JobStateToProto(common::JobState state) {
  switch (state) {
    case common::JobState::kQueued: return v1::QUEUED;
    case common::JobState::kRunning: return v1::RUNNING;
    case common::JobState::kSucceeded: return v1::SUCCEEDED;
    case common::JobState::kFailed: return v1::FAILED;
    case common::JobState::kCancelled: return v1::CANCELLED;
    case common::JobState::kInterrupted: return v1::INTERRUPTED;
  }
  return v1::JOB_STATE_UNSPECIFIED;
}

absl::StatusOr<common::JobState> JobStateFromProto(v1::JobState state) {
  switch (state) {
    case v1::QUEUED: return common::JobState::kQueued;
    case v1::RUNNING: return common::JobState::kRunning;
    case v1::SUCCEEDED: return common::JobState::kSucceeded;
    case v1::FAILED: return common::JobState::kFailed;
    case v1::CANCELLED: return common::JobState::kCancelled;
    case v1::INTERRUPTED: return common::JobState::kInterrupted;
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
  p.set_planned_epochs(m.planned_epochs);
  p.set_data_wait_seconds(m.data_wait_seconds);
  return p;
}

v1::EvalMetrics EvalMetricsToProto(const common::TestEvaluation& t,
                                   const std::vector<std::string>& class_names) {
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
    cm->set_f1(common::F1(t.metrics.precision[c], t.metrics.recall[c]));
  }
  for (const auto& row : t.metrics.confusion) {
    for (int64_t v : row) p.add_confusion(v);
  }
  return p;
}

v1::Job JobInfoToProto(const common::JobInfo& job) {
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
  for (const common::TestEvaluation& t : job.test) *p.add_test() = EvalMetricsToProto(t, job.class_names);
  for (const std::string& name : job.class_names) p.add_class_names(name);
  p.set_train_images(job.train_images);
  p.set_valid_images(job.valid_images);
  p.set_promotion(job.promotion);
  p.set_owner(job.owner);
  if (job.last_epoch) p.set_planned_epochs(job.last_epoch->planned_epochs);
  return p;
}

v1::JobEvent JobEventToProto(const common::JobEvent& event,
                             const std::vector<std::string>& class_names) {
  v1::JobEvent p;
  p.set_sequence(event.sequence);
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, common::StateChange>) {
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

}  // namespace catdog::api
