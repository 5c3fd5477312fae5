#include "api/model_id.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace catdog::api {
namespace {
constexpr absl::string_view kFilePrefix = "file:";
constexpr absl::string_view kImportedPrefix = "imported:";
}  // namespace

ModelId ModelId::Checkpoint(std::string job_id, std::string kind) {
  return ModelId(std::move(job_id), std::move(kind), "", "");
}

ModelId ModelId::File(std::string path) { return ModelId("", "", std::move(path), ""); }

ModelId ModelId::Imported(std::string name) { return ModelId("", "", "", std::move(name)); }

absl::Status ModelId::CheckImportedName(absl::string_view name) {
  const bool ok = !name.empty() && name.size() <= 64 && absl::ascii_isalnum(name[0]) &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-';
                  });
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "model name '", name.substr(0, 64), name.size() > 64 ? "..." : "",
      "': use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"));
}

absl::StatusOr<ModelId> ModelId::Parse(absl::string_view text) {
  constexpr size_t kMaxBytes = 4096;  // a path, at most
  if (text.size() > kMaxBytes) {
    return absl::InvalidArgumentError(absl::StrCat("model id of ", text.size(), " bytes; at most ", kMaxBytes));
  }
  if (absl::StartsWith(text, kFilePrefix)) {
    absl::string_view path = text.substr(kFilePrefix.size());
    if (!path.empty()) return File(std::string(path));
  } else if (absl::StartsWith(text, kImportedPrefix)) {
    const absl::string_view name = text.substr(kImportedPrefix.size());
    absl::Status valid = CheckImportedName(name);
    if (!valid.ok()) return valid;
    return Imported(std::string(name));
  } else if (const size_t slash = text.find('/'); slash != absl::string_view::npos && slash > 0) {
    const absl::string_view kind = text.substr(slash + 1);
    if (kind == "best" || kind == "last") {
      return Checkpoint(std::string(text.substr(0, slash)), std::string(kind));
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "model id '", text,
      "' is not JOB_ID/best, JOB_ID/last, imported:NAME or file:PATH (`catdogctl models` lists them)"));
}

std::string ModelId::ToString() const {
  if (is_file()) return absl::StrCat(kFilePrefix, path_);
  if (is_imported()) return absl::StrCat(kImportedPrefix, name_);
  return absl::StrCat(job_id_, "/", kind_);
}

}  // namespace catdog::api
