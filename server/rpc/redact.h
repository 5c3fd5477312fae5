// Replies name no server path: the data root and the state dir (as given
// and canonical) are cut from messages and paths, so a client learns where
// things are only relative to them. Logs keep the full paths.
#pragma once

#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace catdog::server {

class PathRedactor {
 public:
  PathRedactor() = default;  // redacts nothing
  PathRedactor(const std::string& data_root, const std::string& state_dir);

  // "<data root>/cats/x.jpg: ..." -> "cats/x.jpg: ...", and the same for the
  // state dir; a bare root becomes "<data root>" / "<state dir>".
  std::string Text(absl::string_view text) const;
  absl::Status Status(const absl::Status& status) const;
  // A file path for a reply: relative to the state dir when inside it,
  // else its file name only.
  std::string Path(const std::string& path) const;
  // A model id for a reply: "file:<path>" shows Path(path); job ids as they are.
  std::string ModelId(const std::string& id) const;

 private:
  std::vector<std::pair<std::string, std::string>> prefixes_;  // longest first
  std::vector<std::string> state_dirs_;
};

}  // namespace catdog::server
