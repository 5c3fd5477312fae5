#include "client/render.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace catdog::client {
namespace {

std::string FormatTime(int64_t unix_ms) {
  if (unix_ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(unix_ms), absl::LocalTimeZone());
}

std::string Duration(const v1::Job& job) {
  if (job.started_unix_ms() == 0) return "-";
  const int64_t end = job.finished_unix_ms() != 0 ? job.finished_unix_ms() : job.started_unix_ms();
  return absl::StrFormat("%.0fs", (end - job.started_unix_ms()) / 1000.0);
}

}  // namespace

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

std::string JobStateName(v1::JobState state) {
  const std::string& name = v1::JobState_Name(state);
  return name.empty() ? absl::StrCat(static_cast<int>(state)) : name;
}

std::string JobsTable(const v1::ListJobsResponse& jobs) {
  std::string out = absl::StrFormat("%-10s %-11s %-8s %-9s %-10s %-20s %-12s %s\n", "JOB", "STATE", "EPOCHS",
                                    "BEST_ACC", "DURATION", "CREATED", "OWNER", "DATASET");
  for (const v1::Job& j : jobs.jobs()) {
    absl::StrAppendFormat(&out, "%-10s %-11s %3d/%-4d %-9.4f %-10s %-20s %-12s %s\n", j.id(),
                          JobStateName(j.state()), j.epochs_completed(), j.config().epochs(),
                          j.best_valid_accuracy(), Duration(j), FormatTime(j.created_unix_ms()),
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
  absl::StrAppendFormat(&out, "epochs:     %d done, best epoch %d (valid accuracy %.4f)\n",
                        j.epochs_completed(), j.best_epoch(), j.best_valid_accuracy());
  if (!j.promotion().empty()) absl::StrAppend(&out, "promotion:  ", j.promotion(), "\n");
  for (const v1::EvalMetrics& t : j.test()) absl::StrAppend(&out, EvalText(t));
  return out;
}

std::string ModelsTable(const v1::ListModelsResponse& models) {
  std::string out = absl::StrFormat("%-16s %-6s %-9s %-10s %-9s %-8s %s\n", "MODEL", "EPOCH",
                                    "VALID_ACC", "VALID_LOSS", "TEST_ACC", "SERVING", "PATH");
  for (const v1::Model& m : models.models()) {
    absl::StrAppendFormat(&out, "%-16s %-6d %-9.4f %-10.4f %-9s %-8s %s\n", m.id(), m.epoch(),
                          m.valid_accuracy(), m.valid_loss(),
                          m.has_test_accuracy() ? absl::StrFormat("%.4f", m.test_accuracy()) : "-",
                          m.serving() ? "*" : "", m.path());
  }
  return out;
}

std::string ModelDetails(const v1::Model& m) {
  return absl::StrFormat(
      "model:      %s\npath:       %s\nclasses:    %s\nimage size: %d px\nepoch:      %d\n"
      "valid:      accuracy %.4f, loss %.4f\n",
      m.id(), m.path(), absl::StrJoin(m.class_names(), ", "), m.image_size(), m.epoch(),
      m.valid_accuracy(), m.valid_loss());
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
  return absl::StrFormat("%5s %10s %10s %9s %9s %7s %8s %7s %4s\n", "EPOCH", "TRAIN_LOSS",
                         "VALID_LOSS", "VALID_ACC", "LR", "TRIGGER", "SECONDS", "IMG/S", "BEST");
}

std::string EpochRow(const v1::EpochMetrics& m) {
  return absl::StrFormat("%5d %10.4f %10.4f %9.4f %9.2g %7d %8.1f %7.1f %4s\n", m.epoch(),
                         m.train_loss(), m.valid_loss(), m.valid_accuracy(), m.learning_rate(),
                         m.early_stop_trigger(), m.seconds(), m.train_images_per_second(),
                         m.is_best() ? "*" : "");
}

std::string ProgressBar(const v1::Progress& p, int width) {
  const double fraction =
      p.batches_total() > 0 ? static_cast<double>(p.batches_done()) / p.batches_total() : 0.0;
  const int filled = static_cast<int>(fraction * width + 0.5);
  return absl::StrFormat("epoch %d [%s%s] %d/%d batches, loss %.4f", p.epoch(),
                         std::string(static_cast<size_t>(filled), '#'),
                         std::string(static_cast<size_t>(width - filled), '.'), p.batches_done(),
                         p.batches_total(), p.running_loss());
}

std::string EvalText(const v1::EvalMetrics& m) {
  std::string out = absl::StrFormat("test (%s weights): accuracy %.4f, loss %.4f on %d images\n",
                                    m.checkpoint_kind(), m.accuracy(), m.loss(), m.count());
  for (const v1::ClassMetrics& c : m.per_class()) {
    absl::StrAppendFormat(&out, "  %-12s precision %.4f recall %.4f\n", c.name(), c.precision(), c.recall());
  }
  return out;
}

}  // namespace catdog::client
