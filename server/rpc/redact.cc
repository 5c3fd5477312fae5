#include "server/rpc/redact.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "common/data/confinement.h"

namespace catdog::server {
namespace fs = std::filesystem;

PathRedactor::PathRedactor(const std::string& data_root, const std::string& state_dir) {
  for (const auto& [dir, name] : {std::pair{data_root, "<data root>"}, std::pair{state_dir, "<state dir>"}}) {
    std::error_code ec;
    std::vector<std::string> forms = {fs::path(dir).lexically_normal().string()};
    if (const fs::path canonical = fs::canonical(dir, ec); !ec) forms.push_back(canonical.string());
    for (std::string form : forms) {
      while (form.size() > 1 && form.back() == '/') form.pop_back();
      // Relative forms mean nothing to a client and would match plain words.
      if (form.size() < 2 || form[0] != '/') continue;
      prefixes_.emplace_back(form, name);
      if (dir == state_dir) state_dirs_.push_back(form);
    }
  }
  std::stable_sort(prefixes_.begin(), prefixes_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

std::string PathRedactor::Text(absl::string_view text) const {
  std::string out(text);
  for (const auto& [root, name] : prefixes_) {
    for (size_t at = out.find(root); at != std::string::npos; at = out.find(root, at)) {
      const size_t end = at + root.size();
      const char next = end < out.size() ? out[end] : ' ';
      const char prev = at > 0 ? out[at - 1] : ' ';
      auto path_char = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '/';
      };
      if (path_char(prev)) {
        at = end;  // inside some other path
      } else if (next == '/') {
        out.erase(at, root.size() + 1);  // "<root>/cats" -> "cats"
      } else if (path_char(next)) {
        at = end;  // a longer name that merely starts the same
      } else {
        out.replace(at, root.size(), name);
        at += name.size();
      }
    }
  }
  return out;
}

absl::Status PathRedactor::Status(const absl::Status& status) const {
  if (status.ok()) return status;
  return absl::Status(status.code(), Text(status.message()));
}

std::string PathRedactor::Path(const std::string& path) const {
  std::error_code ec;
  const std::string full = fs::weakly_canonical(path, ec).string();  // catdogd may run with relative folders
  for (const std::string& dir : state_dirs_) {
    for (const std::string& p : {path, full}) {
      if (common::IsWithin(dir, p) && p.size() > dir.size()) return p.substr(dir.size() + 1);
    }
  }
  return fs::path(path).filename().string();
}

std::string PathRedactor::ModelId(const std::string& id) const {
  constexpr char kFile[] = "file:";
  if (id.rfind(kFile, 0) != 0) return id;
  return kFile + Path(id.substr(sizeof(kFile) - 1));
}

}  // namespace catdog::server
