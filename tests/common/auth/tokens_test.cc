#include "common/auth/tokens.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/support/test_data.h"

namespace catdog::common {
namespace {

TEST(TokensTest, AMadeTokenAuthenticatesAsItsNameWithItsScopesAndLimits) {
  auto t = MakeToken("alice", kScopeTrain | kScopeInference, TokenLimits{2, 500, 4});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->line.find(t->token), std::string::npos);  // the file holds the hash only
  catdog::testing::TempDir dir;
  catdog::testing::WriteFile(dir.Sub("tokens"), "# catdogd tokens\n\n" + t->line + "\n");
  auto registry = TokenRegistry::Load(dir.Sub("tokens"));
  ASSERT_TRUE(registry.ok()) << registry.status();
  auto p = (*registry)->Authenticate(t->token);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "alice");
  EXPECT_TRUE(p->Has(kScopeTrain));
  EXPECT_TRUE(p->Has(kScopeInference));
  EXPECT_FALSE(p->Has(kScopeAdmin));
  EXPECT_EQ(p->limits.max_active_jobs, 2);
  EXPECT_EQ(p->limits.max_checkpoint_mb, 500);
  EXPECT_EQ(p->limits.max_concurrent_classify, 4);
  EXPECT_TRUE(p->MayModify("alice"));
  EXPECT_FALSE(p->MayModify("bob"));
  EXPECT_EQ((*registry)->Authenticate(t->token + "x").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*registry)->Authenticate("").status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(TokensTest, AdminMayDoEverythingAndTheAnonymousPrincipalToo) {
  Principal admin{"root", kScopeAdmin, {}};
  EXPECT_TRUE(admin.Has(kScopeTrain));
  EXPECT_TRUE(admin.Has(kScopeInference));
  EXPECT_TRUE(admin.MayModify("alice"));
  Principal anonymous;
  EXPECT_TRUE(anonymous.Has(kScopeAdmin));
  EXPECT_TRUE(anonymous.MayModify("alice"));
}

TEST(TokensTest, ABadLineIsRefusedNamingItsNumber) {
  const std::string hash = absl::StrCat("sha256:", std::string(64, 'a'));
  struct Case {
    std::string text;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {"token123 name=a scopes=train", "line 1"},
           {"\n" + hash + " scopes=train", "name=... is required"},
           {hash + " name=a", "scopes=... is required"},
           {hash + " name=a scopes=train,root", "unknown scope"},
           {hash + " name=a scopes=train max_jobs=2", "unknown key"},
           {hash + " name=a scopes=train max_active_jobs=-1", "bad value"},
           {hash + " name=a/b scopes=train", "bad value for name"},
           {"sha256:" + std::string(64, 'g') + " name=a scopes=train", "not hexadecimal"},
           {hash + " name=a scopes=train\n" + hash + " name=b scopes=train", "listed twice"},
           {hash + " name=a scopes=train\nsha256:" + std::string(64, 'b') + " name=a scopes=train", "used twice"},
       }) {
    auto parsed = ParseTokensFile(c.text);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(std::string(parsed.status().message()).find(c.says), std::string::npos) << parsed.status();
  }
}

TEST(TokensTest, AnEmptyOrMissingFileIsRefused) {
  catdog::testing::TempDir dir;
  catdog::testing::WriteFile(dir.Sub("empty"), "# nobody yet\n");
  EXPECT_EQ(TokenRegistry::Load(dir.Sub("empty")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TokenRegistry::Load(dir.Sub("missing")).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(TokensTest, ClassifySlotsAreLimitedPerNameAndFreedOnRelease) {
  auto t = MakeToken("reader", kScopeInference, TokenLimits{0, 0, 2});
  catdog::testing::TempDir dir;
  catdog::testing::WriteFile(dir.Sub("tokens"), t->line);
  auto registry = *TokenRegistry::Load(dir.Sub("tokens"));
  const Principal p = *registry->Authenticate(t->token);
  auto a = registry->AcquireClassify(p);
  auto b = registry->AcquireClassify(p);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(registry->AcquireClassify(p).status().code(), absl::StatusCode::kResourceExhausted);
  { auto released = std::move(*a); }
  auto c = registry->AcquireClassify(p);
  EXPECT_TRUE(c.ok());
  c->Release();
  c->Release();  // idempotent: frees one slot, not two
  *b = std::move(*c);  // assigning over a held slot frees it
  auto d = registry->AcquireClassify(p);  // none held now: two fit, a third does not
  auto e = registry->AcquireClassify(p);
  EXPECT_TRUE(d.ok() && e.ok());
  EXPECT_FALSE(registry->AcquireClassify(p).ok());
  EXPECT_TRUE(registry->AcquireClassify(Principal{"other", kScopeInference, {}}).ok());  // no limit
}

TEST(TokensTest, ScopesParseAndPrint) {
  EXPECT_EQ(*ParseScopes("inference,admin"), kScopeInference | kScopeAdmin);
  EXPECT_EQ(ScopesToString(kScopeTrain | kScopeInference), "inference,train");
  EXPECT_FALSE(ParseScopes("").ok());
  EXPECT_FALSE(ParseScopes("Train").ok());
  EXPECT_FALSE(MakeToken("", kScopeTrain, {}).ok());
  EXPECT_FALSE(MakeToken("a b", kScopeTrain, {}).ok());
}

}  // namespace
}  // namespace catdog::common
