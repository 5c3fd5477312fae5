// The name of a servable model, as clients write it:
//   "<job id>/best", "<job id>/last"  a checkpoint a training job wrote
//   "file:<path>"                     a checkpoint file given to the server
//   "imported:<name>"                 a model imported from a PyTorch file
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
  static ModelId Imported(std::string name);
  // INVALID_ARGUMENT (naming the accepted forms) for anything else.
  static absl::StatusOr<ModelId> Parse(absl::string_view text);
  // OK when `name` can name an imported model: 1 to 64 of [A-Za-z0-9._-],
  // starting with a letter or digit.
  static absl::Status CheckImportedName(absl::string_view name);

  bool is_file() const { return !path_.empty(); }
  bool is_imported() const { return !name_.empty(); }
  const std::string& job_id() const { return job_id_; }  // empty unless a job's checkpoint
  const std::string& kind() const { return kind_; }      // "best" / "last"; empty unless a job's
  const std::string& path() const { return path_; }      // empty unless a file
  const std::string& name() const { return name_; }      // empty unless imported
  std::string ToString() const;

  bool operator==(const ModelId& other) const {
    return job_id_ == other.job_id_ && kind_ == other.kind_ && path_ == other.path_ && name_ == other.name_;
  }
  bool operator!=(const ModelId& other) const { return !(*this == other); }

 private:
  ModelId(std::string job_id, std::string kind, std::string path, std::string name)
      : job_id_(std::move(job_id)), kind_(std::move(kind)), path_(std::move(path)), name_(std::move(name)) {}

  std::string job_id_;
  std::string kind_;
  std::string path_;
  std::string name_;
};

}  // namespace catdog::api
