// Human-readable and JSON renderings of catdog's protos for catdogctl.
// Pure functions returning strings; the caller prints them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/message.h>
#include <nlohmann/json_fwd.hpp>

#include "absl/time/time.h"
#include "catdog/v1/catdog.pb.h"

namespace catdog::client {

// Compact JSON, field names as in the .proto, defaults included; numbers as
// JSON numbers (also 64-bit ones, which protobuf's printer quotes), enums by
// name, bytes in base64, unset messages and oneof members left out.
std::string ToJson(const google::protobuf::Message& message);
nlohmann::ordered_json ToJsonValue(const google::protobuf::Message& message);

// How long a job has run: start to finish, or to `now` while it runs.
std::string Duration(const v1::Job& job, absl::Time now);

std::string JobStateName(v1::JobState state);  // "SUCCEEDED", ...
// The epoch a job is to end at: its time budget's plan once made, else
// config.epochs.
int PlannedEpochs(const v1::Job& job);
std::string JobsTable(const v1::ListJobsResponse& jobs);
std::string JobDetails(const v1::Job& job);
std::string ModelsTable(const v1::ListModelsResponse& models);
std::string ModelDetails(const v1::Model& model);
std::string StatsText(const v1::Stats& stats);

// The watch view: a header, one row per epoch, a progress bar line.
std::string EpochHeader();
std::string EpochRow(const v1::EpochMetrics& m);
// "epoch 3 of 15 [####....] 12/40 batches, loss 0.6931, epoch ends in 1:05";
// `epochs` 0 leaves out "of N", no `epoch_left` the estimate.
std::string ProgressBar(const v1::Progress& p, int epochs = 0, std::optional<absl::Duration> epoch_left = {},
                        int width = 30);
// The time left in the running epoch, from the pace of the batches seen
// since the watch met it.
class EpochEta {
 public:
  std::optional<absl::Duration> Update(const v1::Progress& p, absl::Time now);

 private:
  int64_t epoch_ = -1;
  int64_t batches_ = 0;
  absl::Time start_;
};
std::string EvalText(const v1::EvalMetrics& m);
// `catdogctl evaluate`: accuracy and loss, per-class precision, recall, F1
// and support, the confusion matrix, the most confident mistakes.
std::string EvaluationText(const v1::EvaluationReport& report);

}  // namespace catdog::client
