#include "common/data/confinement.h"

#include <sys/stat.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "common/data/image_folder.h"
#include "common/data/image_io.h"
#include "tests/support/test_data.h"

namespace catdog::common {
namespace {

namespace fs = std::filesystem;

class ConfinementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    catdog::testing::WriteSyntheticDataset(dir_.Sub("root/pets"), 3, 16);
    catdog::testing::WriteSyntheticDataset(dir_.Sub("outside/pets"), 3, 16, /*seed=*/5);
    root_ = fs::canonical(dir_.Sub("root")).string();
    catdog::testing::WriteFile(dir_.Sub("outside/secret.png"), "not yours");
  }
  std::string FirstFile(const std::string& folder) {
    return fs::directory_iterator(dir_.Sub(folder))->path().string();
  }
  catdog::testing::TempDir dir_;
  std::string root_;
};

TEST_F(ConfinementTest, AFolderWithoutLinksScansAndReads) {
  auto folder = ScanImageFolder(root_ + "/pets", root_);
  ASSERT_TRUE(folder.ok()) << folder.status();
  EXPECT_EQ(folder->samples.size(), 6u);
  EXPECT_TRUE(ReadImageFile(folder->samples[0].path, 0, root_).ok());
}

TEST_F(ConfinementTest, AClassFolderLinkedOutsideIsPermissionDeniedNamedRelative) {
  fs::remove_all(dir_.Sub("root/pets/dog"));
  fs::create_directory_symlink(dir_.Sub("outside/pets/dog"), dir_.Sub("root/pets/dog"));
  auto folder = ScanImageFolder(root_ + "/pets", root_);
  EXPECT_EQ(folder.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(folder.status().message()).find("'dog' is a link"), std::string::npos) << folder.status();
  EXPECT_EQ(std::string(folder.status().message()).find("outside/pets"), std::string::npos) << folder.status();
  EXPECT_TRUE(ScanImageFolder(root_ + "/pets").ok());  // unconfined (catdog-train) follows it
}

TEST_F(ConfinementTest, AnImageLinkedOutsideIsPermissionDeniedAtScanAndAtRead) {
  const std::string link = dir_.Sub("root/pets/cat/zz.png");
  fs::create_symlink(dir_.Sub("outside/secret.png"), link);
  EXPECT_EQ(ScanImageFolder(root_ + "/pets", root_).status().code(), absl::StatusCode::kPermissionDenied);
  auto read = ReadFileWithin(root_, link);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(std::string(read.status().message()).find("secret"), std::string::npos) << read.status();
}

// A file swapped for a link after the scan still reads nothing outside.
TEST_F(ConfinementTest, AFileSwappedForALinkAfterTheScanIsNotRead) {
  auto folder = ScanImageFolder(root_ + "/pets", root_);
  ASSERT_TRUE(folder.ok());
  const std::string victim = folder->samples[0].path;
  fs::remove(victim);
  fs::create_symlink(dir_.Sub("outside/secret.png"), victim);
  EXPECT_EQ(ReadImageFile(victim, 0, root_).status().code(), absl::StatusCode::kPermissionDenied);
  // ... and a folder above it swapped for a link the same.
  fs::rename(dir_.Sub("root/pets/dog"), dir_.Sub("root/dog_moved"));
  fs::create_directory_symlink(dir_.Sub("outside/pets/dog"), dir_.Sub("root/pets/dog"));
  const std::string through = dir_.Sub("root/pets/dog/") + fs::path(FirstFile("outside/pets/dog")).filename().string();
  EXPECT_EQ(ReadFileWithin(root_, through).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(ConfinementTest, LinksThatStayInsideAreFollowed) {
  fs::create_directories(dir_.Sub("root/shared"));
  fs::copy(dir_.Sub("root/pets/dog"), dir_.Sub("root/shared/dog"), fs::copy_options::recursive);
  fs::remove_all(dir_.Sub("root/pets/dog"));
  fs::create_directory_symlink("../shared/dog", dir_.Sub("root/pets/dog"));
  auto folder = ScanImageFolder(root_ + "/pets", root_);
  ASSERT_TRUE(folder.ok()) << folder.status();
  for (const Sample& s : folder->samples) EXPECT_TRUE(ReadImageFile(s.path, 0, root_).ok()) << s.path;
}

TEST_F(ConfinementTest, AFifoIsRefusedWithoutBlocking) {
  const std::string fifo = dir_.Sub("root/pets/cat/pipe.png");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(ReadFileWithin(root_, fifo).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadFileWithin(root_, dir_.Sub("root/pets/cat/missing.png")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(CheckPathTextTest, RefusesNulControlCharactersAndHugePaths) {
  EXPECT_TRUE(CheckPathText("cats/dogs ü.png", "path").ok());
  EXPECT_FALSE(CheckPathText(std::string("a\0b", 3), "path").ok());
  EXPECT_FALSE(CheckPathText("a\tb", "path").ok());
  EXPECT_FALSE(CheckPathText("a\x7f", "path").ok());
  EXPECT_FALSE(CheckPathText(std::string(4097, 'a'), "path").ok());
}

TEST(IsWithinTest, ComparesWholeComponents) {
  EXPECT_TRUE(IsWithin("/data", "/data"));
  EXPECT_TRUE(IsWithin("/data", "/data/x"));
  EXPECT_FALSE(IsWithin("/data", "/database"));
  EXPECT_FALSE(IsWithin("/data", "/"));
  EXPECT_TRUE(IsWithin("/", "/etc"));
}

}  // namespace
}  // namespace catdog::common
