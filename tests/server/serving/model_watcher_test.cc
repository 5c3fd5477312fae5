#include "server/serving/model_watcher.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "tests/support/test_data.h"

namespace catdog::server {
namespace {
namespace fs = std::filesystem;
using catdog::testing::TempDir;

// Records what the watcher asks to load; fails for files whose content is "bad".
class FakeLoader {
 public:
  ModelWatcher::Load load() {
    return [this](const std::string& path) {
      std::ifstream in(path);
      std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      absl::MutexLock lock(&mu_);
      loads_.push_back(fs::path(path).filename().string() + "=" + content);
      return content == "bad" ? absl::InvalidArgumentError("not a checkpoint") : absl::OkStatus();
    };
  }
  std::vector<std::string> loads() {
    absl::MutexLock lock(&mu_);
    return loads_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> loads_ ABSL_GUARDED_BY(mu_);
};

void Write(const std::string& path, const std::string& content, fs::file_time_type mtime) {
  std::ofstream(path) << content;
  fs::last_write_time(path, mtime);
}

const fs::file_time_type kT0 = fs::file_time_type::clock::now() - std::chrono::hours(1);

TEST(ModelWatcher, ServesTheNewestCheckpointOfAFolderOnceAndEachNewerOne) {
  TempDir dir;
  FakeLoader loader;
  ModelWatcher watcher(dir.path(), absl::Hours(1), loader.load());
  EXPECT_EQ(watcher.Check().code(), absl::StatusCode::kNotFound);
  Write(dir.Sub("a.ckpt"), "A", kT0);
  Write(dir.Sub("b.ckpt"), "B", kT0 + std::chrono::seconds(1));
  Write(dir.Sub(".c.ckpt"), "hidden", kT0 + std::chrono::seconds(9));  // a publisher's temporary
  Write(dir.Sub("d.pth"), "other", kT0 + std::chrono::seconds(9));
  fs::create_directory(dir.Sub("e.ckpt"));
  EXPECT_TRUE(watcher.Check().ok());
  EXPECT_TRUE(watcher.Check().ok());  // unchanged: not loaded again
  EXPECT_EQ(loader.loads(), std::vector<std::string>{"b.ckpt=B"});
  Write(dir.Sub("c.ckpt"), "C", kT0 + std::chrono::seconds(2));
  EXPECT_TRUE(watcher.Check().ok());
  EXPECT_EQ(loader.loads(), (std::vector<std::string>{"b.ckpt=B", "c.ckpt=C"}));
}

TEST(ModelWatcher, EqualTimesAreOrderedByName) {
  TempDir dir;
  FakeLoader loader;
  ModelWatcher watcher(dir.path(), absl::Hours(1), loader.load());
  Write(dir.Sub("job-2.ckpt"), "2", kT0);
  Write(dir.Sub("job-1.ckpt"), "1", kT0);
  EXPECT_TRUE(watcher.Check().ok());
  EXPECT_EQ(loader.loads(), std::vector<std::string>{"job-2.ckpt=2"});
}

TEST(ModelWatcher, AFileReplacedInPlaceIsLoadedAgain) {
  TempDir dir;
  FakeLoader loader;
  const std::string model = dir.Sub("serving.ckpt");
  ModelWatcher watcher(model, absl::Hours(1), loader.load());
  Write(model, "v1", kT0);
  EXPECT_TRUE(watcher.Check().ok());
  // A publisher's rename: a new inode under the same name and time.
  Write(dir.Sub(".serving.ckpt.tmp"), "v2", kT0);
  fs::rename(dir.Sub(".serving.ckpt.tmp"), model);
  EXPECT_TRUE(watcher.Check().ok());
  EXPECT_EQ(loader.loads(), (std::vector<std::string>{"serving.ckpt=v1", "serving.ckpt=v2"}));
}

TEST(ModelWatcher, AFileThatDoesNotLoadIsNotRetriedUntilItChanges) {
  TempDir dir;
  FakeLoader loader;
  ModelWatcher watcher(dir.path(), absl::Hours(1), loader.load());
  Write(dir.Sub("a.ckpt"), "A", kT0);
  EXPECT_TRUE(watcher.Check().ok());
  Write(dir.Sub("b.ckpt"), "bad", kT0 + std::chrono::seconds(1));
  EXPECT_EQ(watcher.Check().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(watcher.Check().code(), absl::StatusCode::kInvalidArgument);  // the last try's answer
  Write(dir.Sub("b.ckpt"), "B", kT0 + std::chrono::seconds(2));
  EXPECT_TRUE(watcher.Check().ok());
  EXPECT_EQ(loader.loads(), (std::vector<std::string>{"a.ckpt=A", "b.ckpt=bad", "b.ckpt=B"}));
}

TEST(ModelWatcher, ItsThreadFollowsTheFolder) {
  TempDir dir;
  absl::Notification loaded;
  ModelWatcher watcher(dir.path(), absl::Milliseconds(5), [&](const std::string& path) {
    if (fs::path(path).filename() == "late.ckpt" && !loaded.HasBeenNotified()) loaded.Notify();
    return absl::OkStatus();
  });
  watcher.Start();
  Write(dir.Sub("late.ckpt"), "L", kT0);
  EXPECT_TRUE(loaded.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

}  // namespace
}  // namespace catdog::server
