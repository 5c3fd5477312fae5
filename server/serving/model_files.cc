#include "server/serving/model_files.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/ml/checkpoint.h"

namespace catdog::server {
namespace fs = std::filesystem;

namespace {
constexpr absl::string_view kSuffix = ".ckpt";
}  // namespace

std::string ModelFiles::ImportedPath(absl::string_view name) const {
  return absl::StrCat(imported_dir_, "/", name, kSuffix);
}

absl::StatusOr<std::string> ModelFiles::Path(const api::ModelId& id) const {
  if (id.is_file()) return absl::InvalidArgumentError("a file: model id has no stored checkpoint");
  if (!id.is_imported()) return resolve_checkpoint_(id.job_id(), id.kind());
  std::string path = ImportedPath(id.name());
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("no imported model ", id.name(), " (`catdogctl models` lists them)"));
  }
  return path;
}

absl::Status ModelFiles::CheckNewImport(absl::string_view name) const {
  if (absl::Status valid = api::ModelId::CheckImportedName(name); !valid.ok()) return valid;
  std::error_code ec;
  if (fs::exists(ImportedPath(name), ec)) {
    return absl::AlreadyExistsError(absl::StrCat("an imported model named ", name, " exists; choose another name"));
  }
  return absl::OkStatus();
}

absl::StatusOr<common::ModelCard> ModelFiles::Import(const std::string& name, absl::string_view bytes,
                                                     const common::ImportOptions& options) const {
  if (absl::Status fresh = CheckNewImport(name); !fresh.ok()) return fresh;
  return common::ImportStateDict(bytes, options, ImportedPath(name));
}

std::vector<ModelFiles::Imported> ModelFiles::ListImported() const {
  std::vector<Imported> out;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(imported_dir_, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.size() <= kSuffix.size() || !absl::EndsWith(file, kSuffix)) continue;
    const std::string name = file.substr(0, file.size() - kSuffix.size());
    if (!api::ModelId::CheckImportedName(name).ok()) continue;
    absl::StatusOr<common::ModelCard> card = common::ReadModelCard(entry.path().string());
    if (card.ok()) out.push_back({name, entry.path().string(), *std::move(card)});
  }
  std::sort(out.begin(), out.end(), [](const Imported& a, const Imported& b) { return a.name < b.name; });
  return out;
}

absl::StatusOr<std::string> ModelFiles::Export(const api::ModelId& id) const {
  absl::StatusOr<std::string> path = Path(id);
  if (!path.ok()) return path.status();
  return common::ExportStateDict(*path);
}

}  // namespace catdog::server
