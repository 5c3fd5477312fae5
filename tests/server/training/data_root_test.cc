#include "server/training/data_root.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "tests/support/test_data.h"

namespace catdog::server {
namespace {

namespace fs = std::filesystem;

class DataRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.Sub("root/cats_dogs/cat"));
    fs::create_directories(dir_.Sub("secret/cat"));
    fs::create_directory_symlink(dir_.Sub("secret"), dir_.Sub("root/escape"));
    root_ = dir_.Sub("root");
  }
  catdog::testing::TempDir dir_;
  std::string root_;
};

TEST_F(DataRootTest, RelativeAndAbsolutePathsInsideResolve) {
  auto rel = ResolveDatasetPath(root_, "cats_dogs");
  ASSERT_TRUE(rel.ok()) << rel.status();
  EXPECT_EQ(*rel, fs::canonical(root_ + "/cats_dogs").string());
  auto abs = ResolveDatasetPath(root_, root_ + "/cats_dogs/cat");
  EXPECT_TRUE(abs.ok()) << abs.status();
}

TEST_F(DataRootTest, DotDotEscapeIsPermissionDenied) {
  EXPECT_EQ(ResolveDatasetPath(root_, "../secret").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ResolveDatasetPath(root_, dir_.Sub("secret")).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(DataRootTest, SymlinkEscapeIsPermissionDenied) {
  EXPECT_EQ(ResolveDatasetPath(root_, "escape").status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(DataRootTest, SiblingWithSharedPrefixIsPermissionDenied) {
  fs::create_directories(dir_.Sub("rootx/d"));
  EXPECT_EQ(ResolveDatasetPath(root_, "../rootx/d").status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(DataRootTest, MissingIsNotFoundAndEmptyIsInvalid) {
  EXPECT_EQ(ResolveDatasetPath(root_, "nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ResolveDatasetPath(root_, "").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace catdog::server
