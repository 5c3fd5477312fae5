#include "api/model_id.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace catdog::api {
namespace {
constexpr absl::string_view kFilePrefix = "file:";
}  // namespace

ModelId ModelId::Checkpoint(std::string job_id, std::string kind) {
  return ModelId(std::move(job_id), std::move(kind), "");
}

ModelId ModelId::File(std::string path) { return ModelId("", "", std::move(path)); }

absl::StatusOr<ModelId> ModelId::Parse(absl::string_view text) {
  constexpr size_t kMaxBytes = 4096;  // a path, at most
  if (text.size() > kMaxBytes) {
    return absl::InvalidArgumentError(absl::StrCat("model id of ", text.size(), " bytes; at most ", kMaxBytes));
  }
  if (absl::StartsWith(text, kFilePrefix)) {
    absl::string_view path = text.substr(kFilePrefix.size());
    if (!path.empty()) return File(std::string(path));
  } else if (const size_t slash = text.find('/'); slash != absl::string_view::npos && slash > 0) {
    const absl::string_view kind = text.substr(slash + 1);
    if (kind == "best" || kind == "last") {
      return Checkpoint(std::string(text.substr(0, slash)), std::string(kind));
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "model id '", text, "' is not JOB_ID/best, JOB_ID/last or file:PATH (`catdogctl models` lists them)"));
}

std::string ModelId::ToString() const {
  return is_file() ? absl::StrCat(kFilePrefix, path_) : absl::StrCat(job_id_, "/", kind_);
}

}  // namespace catdog::api
