#include "server/training/data_root.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "tests/support/test_data.h"

namespace catdog::server {
namespace {

namespace fs = std::filesystem;
using absl::StatusCode;

class DataRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.Sub("root/cats_dogs/cat"));
    fs::create_directories(dir_.Sub("secret/cat"));
    fs::create_directory_symlink(dir_.Sub("secret"), dir_.Sub("root/escape"));
    fs::create_directory_symlink(dir_.Sub("root/cats_dogs"), dir_.Sub("root/alias"));
    root_ = dir_.Sub("root");
  }
  StatusCode Code(const std::string& requested) { return ResolveDatasetPath(root_, requested).status().code(); }

  catdog::testing::TempDir dir_;
  std::string root_;
};

TEST_F(DataRootTest, RelativeAndAbsolutePathsInsideResolveAndShowRelative) {
  auto rel = ResolveDatasetPath(root_, "cats_dogs/");
  ASSERT_TRUE(rel.ok()) << rel.status();
  EXPECT_EQ(rel->resolved, fs::canonical(root_ + "/cats_dogs").string());
  EXPECT_EQ(rel->relative, "cats_dogs");
  auto abs = ResolveDatasetPath(root_, root_ + "/cats_dogs/cat");
  ASSERT_TRUE(abs.ok()) << abs.status();
  EXPECT_EQ(abs->relative, "cats_dogs/cat");
  auto dotted = ResolveDatasetPath(root_, "cats_dogs/cat/../cat");
  ASSERT_TRUE(dotted.ok()) << dotted.status();
  EXPECT_EQ(dotted->relative, "cats_dogs/cat");
}

TEST_F(DataRootTest, LinkThatStaysInsideIsFollowed) {
  auto alias = ResolveDatasetPath(root_, "alias");
  ASSERT_TRUE(alias.ok()) << alias.status();
  EXPECT_EQ(alias->resolved, fs::canonical(root_ + "/cats_dogs").string());
}

TEST_F(DataRootTest, DotDotEscapeIsPermissionDenied) {
  EXPECT_EQ(Code("../secret"), StatusCode::kPermissionDenied);
  EXPECT_EQ(Code("cats_dogs/../../secret"), StatusCode::kPermissionDenied);
  EXPECT_EQ(Code(dir_.Sub("secret")), StatusCode::kPermissionDenied);
}

TEST_F(DataRootTest, SymlinkEscapeIsPermissionDeniedAtEveryDepth) {
  EXPECT_EQ(Code("escape"), StatusCode::kPermissionDenied);
  EXPECT_EQ(Code("escape/cat"), StatusCode::kPermissionDenied);
  EXPECT_EQ(Code("escape/missing"), StatusCode::kPermissionDenied);
}

TEST_F(DataRootTest, SiblingWithSharedPrefixIsPermissionDenied) {
  fs::create_directories(dir_.Sub("rootx/d"));
  EXPECT_EQ(Code("../rootx/d"), StatusCode::kPermissionDenied);
  EXPECT_EQ(Code(dir_.Sub("rootx/d")), StatusCode::kPermissionDenied);
}

// An absolute path outside is refused before anything is looked at: the
// answer is the same whether or not it exists, and names no resolved path.
TEST_F(DataRootTest, AbsolutePathsOutsideAreNoExistenceOracle) {
  const auto shadow = ResolveDatasetPath(root_, "/etc/shadow");
  const auto missing = ResolveDatasetPath(root_, "/etc/shadowX");
  EXPECT_EQ(shadow.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(missing.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(std::string(shadow.status().message()).find("resolves"), std::string::npos);
  EXPECT_EQ(Code(dir_.Sub("secret/cat")), Code(dir_.Sub("secret/dog")));
}

TEST_F(DataRootTest, ErrorsNameThePathRelativeToTheDataRootOnly) {
  const auto missing = ResolveDatasetPath(root_, "nope");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(std::string(missing.status().message()).find(root_), std::string::npos) << missing.status();
  const auto escape = ResolveDatasetPath(root_, "escape");
  EXPECT_EQ(std::string(escape.status().message()).find(dir_.Sub("secret")), std::string::npos) << escape.status();
}

TEST_F(DataRootTest, EmptyNulAndControlCharactersAreInvalid) {
  EXPECT_EQ(Code(""), StatusCode::kInvalidArgument);
  EXPECT_EQ(Code(std::string("cats_dogs\0/../../secret", 23)), StatusCode::kInvalidArgument);
  EXPECT_EQ(Code("cats_dogs\n"), StatusCode::kInvalidArgument);
  EXPECT_EQ(Code("cats\x1b[2Jdogs"), StatusCode::kInvalidArgument);
  EXPECT_EQ(Code(std::string(5000, 'a')), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace catdog::server
