#include "server/serving/model_watcher.h"

#include <sys/stat.h>

#include <filesystem>
#include <utility>

#include <spdlog/spdlog.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/data/log_format.h"

namespace catdog::server {
namespace fs = std::filesystem;

ModelWatcher::ModelWatcher(std::string path, absl::Duration interval, Load load)
    : path_(std::move(path)), interval_(interval), load_(std::move(load)) {}

ModelWatcher::~ModelWatcher() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

std::optional<ModelWatcher::Identity> ModelWatcher::Current() const {
  std::string file = path_;
  std::error_code ec;
  if (fs::is_directory(path_, ec)) {
    std::optional<std::pair<fs::file_time_type, std::string>> newest;
    for (const fs::directory_entry& e : fs::directory_iterator(path_, ec)) {
      const std::string name = e.path().filename().string();
      if (absl::StartsWith(name, ".") || !absl::EndsWith(name, ".ckpt") || !e.is_regular_file(ec)) continue;
      const fs::file_time_type mtime = e.last_write_time(ec);
      if (ec) continue;
      if (!newest || std::make_pair(mtime, name) > *newest) newest.emplace(mtime, name);
    }
    if (!newest) return std::nullopt;
    file = (fs::path(path_) / newest->second).string();
  }
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return Identity{file, static_cast<unsigned long long>(st.st_dev), static_cast<unsigned long long>(st.st_ino),
                  static_cast<long long>(st.st_size),
                  static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

absl::Status ModelWatcher::Check() {
  absl::MutexLock lock(&mu_);
  const std::optional<Identity> now = Current();
  if (!now) return absl::NotFoundError(absl::StrCat("no checkpoint at ", path_, " yet"));
  if (tried_ && *tried_ == *now) return tried_status_;
  tried_ = now;
  tried_status_ = load_(now->path);
  if (tried_status_.ok()) {
    spdlog::info("serving {}", now->path);
  } else {
    spdlog::warn("{} does not load, the served model stays until it changes: {}", now->path, tried_status_);
  }
  return tried_status_;
}

void ModelWatcher::Start() {
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(interval_)) Check().IgnoreError();
  });
}

}  // namespace catdog::server
