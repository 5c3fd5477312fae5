#include "server/serving/model_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

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

namespace {

absl::Status WriteError(const std::string& what, int err) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(err));
  return err == ENOSPC || err == EDQUOT ? absl::ResourceExhaustedError(message) : absl::InternalError(message);
}

// Copies `from` into the new file `to` and fsyncs it.
absl::Status CopyDurably(const std::string& from, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return WriteError(absl::StrCat("open ", from), errno);
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    const int err = errno;
    ::close(in);
    return WriteError(absl::StrCat("create ", to), err);
  }
  absl::Status status;
  std::vector<char> buffer(1 << 20);
  while (status.ok()) {
    const ssize_t n = ::read(in, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) status = WriteError(absl::StrCat("read ", from), errno);
    if (n <= 0) break;
    for (ssize_t done = 0; status.ok() && done < n;) {
      const ssize_t w = ::write(out, buffer.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) status = WriteError(absl::StrCat("write ", to), errno);
      done += std::max<ssize_t>(w, 0);
    }
  }
  if (status.ok() && ::fsync(out) != 0) status = WriteError(absl::StrCat("fsync ", to), errno);
  if (::close(out) != 0 && status.ok()) status = WriteError(absl::StrCat("close ", to), errno);
  ::close(in);
  return status;
}

}  // namespace

absl::Status PublishCheckpoint(const std::string& path, const std::string& dir) {
  const std::string target = (fs::path(dir) / "serving.ckpt").string();
  const std::string tmp = (fs::path(dir) / absl::StrCat(".serving.ckpt.tmp.", ::getpid())).string();
  absl::Status status = CopyDurably(path, tmp);
  if (status.ok() && std::rename(tmp.c_str(), target.c_str()) != 0) {
    status = WriteError(absl::StrCat("rename to ", target), errno);
  }
  if (!status.ok()) {
    std::error_code ec;
    fs::remove(tmp, ec);
    return status;
  }
  // The rename itself survives a crash once the folder is synced.
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  return absl::OkStatus();
}

}  // namespace catdog::server
