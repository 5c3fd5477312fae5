// The name of a servable model, as clients write it:
//   "<job id>/best", "<job id>/last"  a checkpoint a training job wrote
//   "file:<path>"                     a checkpoint file given to the server
// A value type; parse once at the edge, pass it around typed.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace catdog::api {

class ModelId {
 public:
  static ModelId Checkpoint(std::string job_id, std::string kind);
  static ModelId File(std::string path);
  // INVALID_ARGUMENT (naming the accepted forms) for anything else.
  static absl::StatusOr<ModelId> Parse(absl::string_view text);

  bool is_file() const { return job_id_.empty(); }
  const std::string& job_id() const { return job_id_; }  // empty for a file
  const std::string& kind() const { return kind_; }      // "best" / "last"; empty for a file
  const std::string& path() const { return path_; }      // empty for a checkpoint
  std::string ToString() const;

  bool operator==(const ModelId& other) const {
    return job_id_ == other.job_id_ && kind_ == other.kind_ && path_ == other.path_;
  }
  bool operator!=(const ModelId& other) const { return !(*this == other); }

 private:
  ModelId(std::string job_id, std::string kind, std::string path)
      : job_id_(std::move(job_id)), kind_(std::move(kind)), path_(std::move(path)) {}

  std::string job_id_;
  std::string kind_;
  std::string path_;
};

}  // namespace catdog::api
