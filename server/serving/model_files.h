// The files behind model ids: job checkpoints (through the job store) and
// models imported from PyTorch state dicts (<imported_dir>/<name>.ckpt), and
// the export of either as a state-dict file. Thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/model_id.h"
#include "common/data/model_card.h"
#include "common/ml/pytorch_interop.h"

namespace catdog::server {

class ModelFiles {
 public:
  using ResolveCheckpoint = std::function<absl::StatusOr<std::string>(const std::string& job_id,
                                                                      const std::string& kind)>;
  ModelFiles(std::string imported_dir, ResolveCheckpoint resolve_checkpoint)
      : imported_dir_(std::move(imported_dir)), resolve_checkpoint_(std::move(resolve_checkpoint)) {}

  // The checkpoint file of a job's or an imported model; NOT_FOUND when it
  // does not exist; INVALID_ARGUMENT for a file: id.
  absl::StatusOr<std::string> Path(const api::ModelId& id) const;

  // OK when `name` is a valid name no imported model has yet (ALREADY_EXISTS).
  absl::Status CheckNewImport(absl::string_view name) const;
  absl::StatusOr<common::ModelCard> Import(const std::string& name, absl::string_view bytes,
                                           const common::ImportOptions& options) const;

  struct Imported {
    std::string name;
    std::string path;
    common::ModelCard card;
  };
  // By name; files that do not read as checkpoints are left out.
  std::vector<Imported> ListImported() const;

  // The state-dict file of a job's or an imported model.
  absl::StatusOr<std::string> Export(const api::ModelId& id) const;

 private:
  std::string ImportedPath(absl::string_view name) const;

  const std::string imported_dir_;
  const ResolveCheckpoint resolve_checkpoint_;
};

// Copies the checkpoint at `path` to `dir`/serving.ckpt for serving replicas
// that follow `dir` (server/serving/model_watcher.h): written as a dotfile
// they skip, fsynced, then renamed into place, so a replica never reads a
// partial file. INTERNAL / RESOURCE_EXHAUSTED (disk full) on write failures,
// and the previous serving.ckpt stays.
absl::Status PublishCheckpoint(const std::string& path, const std::string& dir);

}  // namespace catdog::server
