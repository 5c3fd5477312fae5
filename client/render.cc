#include "client/render.h"

#include <cmath>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace catdog::client {
namespace {

std::string FormatTime(int64_t unix_ms) {
  if (unix_ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(unix_ms), absl::LocalTimeZone());
}

using google::protobuf::FieldDescriptor;

// One value of a field; protobuf's own JSON printer writes 64-bit integers
// as strings, which this does not.
nlohmann::ordered_json FieldValue(const google::protobuf::Message& m, const FieldDescriptor* f, int index) {
  const google::protobuf::Reflection* r = m.GetReflection();
  const bool repeated = f->is_repeated();
  auto finite = [](double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr); };
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: return repeated ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64: return repeated ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
    case FieldDescriptor::CPPTYPE_UINT32: return repeated ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64: return repeated ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f);
    case FieldDescriptor::CPPTYPE_DOUBLE: return finite(repeated ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT: return finite(repeated ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL: return repeated ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f);
    case FieldDescriptor::CPPTYPE_ENUM:
      return (repeated ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f))->name();
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string v = repeated ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
      return f->type() == FieldDescriptor::TYPE_BYTES ? absl::Base64Escape(v) : v;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return ToJsonValue(repeated ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
  }
  return nullptr;
}

}  // namespace

nlohmann::ordered_json ToJsonValue(const google::protobuf::Message& message) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  const google::protobuf::Descriptor* d = message.GetDescriptor();
  const google::protobuf::Reflection* r = message.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->is_repeated()) {
      nlohmann::ordered_json values = nlohmann::ordered_json::array();
      for (int k = 0; k < r->FieldSize(message, f); ++k) values.push_back(FieldValue(message, f, k));
      out[f->name()] = std::move(values);
    } else if (!f->has_presence() || r->HasField(message, f)) {  // unset messages and oneofs are left out
      out[f->name()] = FieldValue(message, f, 0);
    }
  }
  return out;
}

std::string ToJson(const google::protobuf::Message& message) { return ToJsonValue(message).dump(); }

std::string Duration(const v1::Job& job, absl::Time now) {
  if (job.started_unix_ms() == 0) return "-";
  const int64_t end = job.finished_unix_ms() != 0 ? job.finished_unix_ms() : absl::ToUnixMillis(now);
  return absl::StrFormat("%.0fs", std::max<int64_t>(0, end - job.started_unix_ms()) / 1000.0);
}

std::string JobStateName(v1::JobState state) {
  const std::string& name = v1::JobState_Name(state);
  return name.empty() ? absl::StrCat(static_cast<int>(state)) : name;
}

int PlannedEpochs(const v1::Job& j) {
  return j.planned_epochs() > 0 ? static_cast<int>(j.planned_epochs()) : j.config().epochs();
}

std::string JobsTable(const v1::ListJobsResponse& jobs) {
  std::string out = absl::StrFormat("%-10s %-11s %-8s %-9s %-10s %-20s %-12s %s\n", "JOB", "STATE", "EPOCHS",
                                    "BEST_ACC", "DURATION", "CREATED", "OWNER", "DATASET");
  for (const v1::Job& j : jobs.jobs()) {
    absl::StrAppendFormat(&out, "%-10s %-11s %3d/%-4d %-9.4f %-10s %-20s %-12s %s\n", j.id(),
                          JobStateName(j.state()), j.epochs_completed(), PlannedEpochs(j),
                          j.best_valid_accuracy(), Duration(j, absl::Now()), FormatTime(j.created_unix_ms()),
                          j.owner().empty() ? "-" : j.owner(), j.config().dataset());
  }
  return out;
}

std::string JobDetails(const v1::Job& j) {
  const v1::TrainingConfig& c = j.config();
  std::string out = absl::StrFormat(
      "job:        %s\nstate:      %s\n", j.id(), JobStateName(j.state()));
  if (!j.owner().empty()) absl::StrAppend(&out, "owner:      ", j.owner(), "\n");
  if (!j.error().empty()) absl::StrAppend(&out, "error:      ", j.error(), "\n");
  absl::StrAppendFormat(&out, "dataset:    %s (%d train / %d valid images, classes %s)\n", c.dataset(),
                        j.train_images(), j.valid_images(), absl::StrJoin(j.class_names(), ", "));
  if (!c.test_dataset().empty()) absl::StrAppend(&out, "test set:   ", c.test_dataset(), "\n");
  absl::StrAppendFormat(&out,
                        "recipe:     %s width %g, %d px, batch %d, lr %g, up to %d epochs, device %s\n",
                        c.arch(), c.width(), c.image_size(), c.batch_size(), c.learning_rate(),
                        c.epochs(), c.device());
  absl::StrAppendFormat(&out, "created:    %s\nstarted:    %s\nfinished:   %s\n",
                        FormatTime(j.created_unix_ms()), FormatTime(j.started_unix_ms()),
                        FormatTime(j.finished_unix_ms()));
  absl::StrAppendFormat(&out, "epochs:     %d done of %d%s, best epoch %d (valid accuracy %.4f)\n",
                        j.epochs_completed(), PlannedEpochs(j),
                        c.time_budget_min() > 0.0 && j.planned_epochs() > 0
                            ? absl::StrFormat(" (planned for %g min)", c.time_budget_min())
                            : "",
                        j.best_epoch(), j.best_valid_accuracy());
  if (!j.promotion().empty()) absl::StrAppend(&out, "promotion:  ", j.promotion(), "\n");
  for (const v1::EvalMetrics& t : j.test()) absl::StrAppend(&out, EvalText(t));
  return out;
}

std::string ModelsTable(const v1::ListModelsResponse& models) {
  std::string out = absl::StrFormat("%-16s %-6s %-9s %-10s %-9s %-8s %s\n", "MODEL", "EPOCH",
                                    "VALID_ACC", "VALID_LOSS", "TEST_ACC", "SERVING", "PATH");
  for (const v1::Model& m : models.models()) {
    // Epoch 0: no training history (a model imported from a notebook).
    const bool trained = m.epoch() > 0;
    absl::StrAppendFormat(&out, "%-16s %-6s %-9s %-10s %-9s %-8s %s\n", m.id(),
                          trained ? absl::StrCat(m.epoch()) : "-",
                          trained ? absl::StrFormat("%.4f", m.valid_accuracy()) : "-",
                          trained ? absl::StrFormat("%.4f", m.valid_loss()) : "-",
                          m.has_test_accuracy() ? absl::StrFormat("%.4f", m.test_accuracy()) : "-",
                          m.serving() ? "*" : "", m.path());
  }
  return out;
}

std::string ModelDetails(const v1::Model& m) {
  std::string out = absl::StrFormat("model:      %s\npath:       %s\nclasses:    %s\nimage size: %d px\n", m.id(),
                                    m.path(), absl::StrJoin(m.class_names(), ", "), m.image_size());
  if (m.epoch() > 0) {
    absl::StrAppendFormat(&out, "epoch:      %d\nvalid:      accuracy %.4f, loss %.4f\n", m.epoch(),
                          m.valid_accuracy(), m.valid_loss());
  }
  return out;
}

std::string StatsText(const v1::Stats& s) {
  std::string out = absl::StrFormat(
      "serving model:     %s\nuptime:            %.0f s\nclassify requests: %d\n"
      "images classified: %d\nforward batches:   %d (mean batch %.2f)\nqueue depth:       %d\n"
      "rejected:          %d\nexpired:           %d\n",
      s.serving_model_id().empty() ? "(none)" : s.serving_model_id(), s.uptime_seconds(),
      s.classify_requests(), s.images(), s.batches(),
      s.batches() > 0 ? static_cast<double>(s.images()) / s.batches() : 0.0, s.queue_depth(),
      s.rejected(), s.expired());
  if (s.batch_sizes_size() > 0) {
    absl::StrAppend(&out, "batch sizes:      ");
    for (const v1::BatchSizeCount& b : s.batch_sizes()) {
      absl::StrAppendFormat(&out, " %dx%d", b.batch_size(), b.count());
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "jobs:             ");
  for (const v1::JobStateCount& j : s.jobs()) {
    absl::StrAppendFormat(&out, " %s=%d", JobStateName(j.state()), j.count());
  }
  if (s.jobs_size() == 0) absl::StrAppend(&out, " none");
  absl::StrAppend(&out, "\n");
  return out;
}

std::string EpochHeader() {
  return absl::StrFormat("%5s %10s %10s %9s %9s %7s %8s %7s %7s %4s\n", "EPOCH", "TRAIN_LOSS",
                         "VALID_LOSS", "VALID_ACC", "LR", "TRIGGER", "SECONDS", "IMG/S", "WAIT_S",
                         "BEST");
}

std::string EpochRow(const v1::EpochMetrics& m) {
  return absl::StrFormat("%5d %10.4f %10.4f %9.4f %9.2g %7d %8.1f %7.1f %7.2f %4s\n", m.epoch(),
                         m.train_loss(), m.valid_loss(), m.valid_accuracy(), m.learning_rate(),
                         m.early_stop_trigger(), m.seconds(), m.train_images_per_second(),
                         m.data_wait_seconds(), m.is_best() ? "*" : "");
}

std::string ProgressBar(const v1::Progress& p, int epochs, std::optional<absl::Duration> epoch_left, int width) {
  const double fraction =
      p.batches_total() > 0 ? static_cast<double>(p.batches_done()) / p.batches_total() : 0.0;
  const int filled = static_cast<int>(std::clamp(fraction, 0.0, 1.0) * width + 0.5);
  std::string out = absl::StrFormat("epoch %d%s [%s%s] %d/%d batches, loss %.4f", p.epoch(),
                                    epochs > 0 ? absl::StrCat(" of ", epochs) : "",
                                    std::string(static_cast<size_t>(filled), '#'),
                                    std::string(static_cast<size_t>(width - filled), '.'), p.batches_done(),
                                    p.batches_total(), p.running_loss());
  if (epoch_left) {
    const int64_t s = absl::ToInt64Seconds(*epoch_left);
    absl::StrAppendFormat(&out, ", epoch ends in %d:%02d", s / 60, s % 60);
  }
  return out;
}

std::optional<absl::Duration> EpochEta::Update(const v1::Progress& p, absl::Time now) {
  if (p.epoch() != epoch_ || p.batches_done() < batches_) {  // a new epoch (or a resumed one)
    epoch_ = p.epoch();
    batches_ = p.batches_done();
    start_ = now;
    return std::nullopt;
  }
  const int64_t done = p.batches_done() - batches_;
  if (done <= 0) return std::nullopt;
  return (now - start_) / static_cast<double>(done) * static_cast<double>(p.batches_total() - p.batches_done());
}

std::string EvalText(const v1::EvalMetrics& m) {
  std::string out = absl::StrFormat("test (%s weights): accuracy %.4f, loss %.4f on %d images\n",
                                    m.checkpoint_kind(), m.accuracy(), m.loss(), m.count());
  for (const v1::ClassMetrics& c : m.per_class()) {
    absl::StrAppendFormat(&out, "  %-12s precision %.4f recall %.4f f1 %.4f\n", c.name(), c.precision(), c.recall(),
                          c.f1());
  }
  return out;
}

std::string EvaluationText(const v1::EvaluationReport& r) {
  const v1::EvalMetrics& m = r.metrics();
  std::string out = absl::StrFormat("%s on %s: %d images", r.model_id(), r.dataset(), m.count());
  if (r.skipped() > 0) absl::StrAppendFormat(&out, " (%d files skipped: not decodable)", r.skipped());
  absl::StrAppendFormat(&out, " in %.1f s\naccuracy %.4f, loss %.4f\n\n", r.seconds(), m.accuracy(), m.loss());
  const int k = m.per_class_size();
  std::vector<int64_t> support(static_cast<size_t>(k), 0);
  for (int t = 0; t < k && m.confusion_size() == k * k; ++t) {
    for (int p = 0; p < k; ++p) support[static_cast<size_t>(t)] += m.confusion(t * k + p);
  }
  absl::StrAppendFormat(&out, "%-14s %9s %9s %9s %8s\n", "CLASS", "PRECISION", "RECALL", "F1", "SUPPORT");
  for (int c = 0; c < k; ++c) {
    const v1::ClassMetrics& cm = m.per_class(c);
    absl::StrAppendFormat(&out, "%-14s %9.4f %9.4f %9.4f %8d\n", cm.name(), cm.precision(), cm.recall(), cm.f1(),
                          support[static_cast<size_t>(c)]);
  }
  if (m.confusion_size() == k * k) {
    absl::StrAppend(&out, "\nconfusion (rows: true class, columns: predicted)\n", absl::StrFormat("%-14s", ""));
    for (int c = 0; c < k; ++c) absl::StrAppendFormat(&out, " %9s", m.per_class(c).name());
    absl::StrAppend(&out, "\n");
    for (int t = 0; t < k; ++t) {
      absl::StrAppendFormat(&out, "%-14s", m.per_class(t).name());
      for (int p = 0; p < k; ++p) absl::StrAppendFormat(&out, " %9d", m.confusion(t * k + p));
      absl::StrAppend(&out, "\n");
    }
  }
  if (r.mistakes_size() > 0) {
    absl::StrAppend(&out, "\nmost confident mistakes\n");
    absl::StrAppendFormat(&out, "%-10s %-12s %-12s %s\n", "CONFIDENCE", "TRUE", "PREDICTED", "FILE");
    for (const v1::Mistake& mistake : r.mistakes()) {
      absl::StrAppendFormat(&out, "%-10.4f %-12s %-12s %s\n", mistake.confidence(), mistake.true_class(),
                            mistake.predicted_class(), mistake.path());
    }
  }
  return out;
}

}  // namespace catdog::client
