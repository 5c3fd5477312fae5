#include "common/auth/tokens.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace catdog::common {
namespace {

constexpr Scope kScopes[] = {kScopeInference, kScopeTrain, kScopeAdmin};
constexpr size_t kMaxNameBytes = 64;

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (const char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '@' && c != '-') {
      return false;
    }
  }
  return true;
}

absl::Status LineError(size_t line, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("tokens file line ", line, ": ", why));
}

}  // namespace

const char* ScopeName(Scope scope) {
  switch (scope) {
    case kScopeInference: return "inference";
    case kScopeTrain: return "train";
    case kScopeAdmin: return "admin";
  }
  return "?";
}

absl::StatusOr<uint32_t> ParseScopes(absl::string_view text) {
  uint32_t scopes = 0;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    bool known = false;
    for (Scope s : kScopes) {
      if (part == ScopeName(s)) {
        scopes |= s;
        known = true;
      }
    }
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown scope '", absl::CHexEscape(part), "' (inference, train, admin)"));
    }
  }
  if (scopes == 0) return absl::InvalidArgumentError("no scope given (inference, train, admin)");
  return scopes;
}

std::string ScopesToString(uint32_t scopes) {
  std::vector<std::string> names;
  for (Scope s : kScopes) {
    if (scopes & s) names.emplace_back(ScopeName(s));
  }
  return absl::StrJoin(names, ",");
}

TokenDigest Sha256(absl::string_view data) {
  TokenDigest digest;
  ::SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  return digest;
}

absl::StatusOr<std::vector<TokenEntry>> ParseTokensFile(absl::string_view text) {
  std::vector<TokenEntry> entries;
  size_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    absl::string_view hash = fields[0];
    if (!absl::ConsumePrefix(&hash, "sha256:") || hash.size() != 64) {
      return LineError(line_number, "must start with sha256:<64 hex digits> (make lines with catdogctl token)");
    }
    const std::string bytes = absl::HexStringToBytes(hash);
    if (absl::BytesToHexString(bytes) != absl::AsciiStrToLower(hash)) {
      return LineError(line_number, "the hash is not hexadecimal");
    }
    TokenEntry entry;
    std::copy(bytes.begin(), bytes.end(), entry.digest.begin());
    entry.principal.scopes = 0;
    for (size_t i = 1; i < fields.size(); ++i) {
      const std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(fields[i], absl::MaxSplits('=', 1));
      const absl::string_view key = kv.first, value = kv.second;
      bool ok = true;
      if (key == "name") {
        ok = ValidName(value);
        entry.principal.name = std::string(value);
      } else if (key == "scopes") {
        absl::StatusOr<uint32_t> scopes = ParseScopes(value);
        if (!scopes.ok()) return LineError(line_number, scopes.status().message());
        entry.principal.scopes = *scopes;
      } else if (key == "max_active_jobs") {
        ok = absl::SimpleAtoi(value, &entry.principal.limits.max_active_jobs) &&
             entry.principal.limits.max_active_jobs >= 0;
      } else if (key == "max_checkpoint_mb") {
        ok = absl::SimpleAtoi(value, &entry.principal.limits.max_checkpoint_mb) &&
             entry.principal.limits.max_checkpoint_mb >= 0 && entry.principal.limits.max_checkpoint_mb < (1LL << 40);
      } else if (key == "max_concurrent_classify") {
        ok = absl::SimpleAtoi(value, &entry.principal.limits.max_concurrent_classify) &&
             entry.principal.limits.max_concurrent_classify >= 0;
      } else {
        return LineError(line_number, absl::StrCat("unknown key '", absl::CHexEscape(key), "'"));
      }
      if (!ok) return LineError(line_number, absl::StrCat("bad value for ", key));
    }
    if (entry.principal.name.empty()) return LineError(line_number, "name=... is required");
    if (entry.principal.scopes == 0) return LineError(line_number, "scopes=... is required");
    for (const TokenEntry& e : entries) {
      if (e.principal.name == entry.principal.name) {
        return LineError(line_number, absl::StrCat("name ", entry.principal.name, " is used twice"));
      }
      if (e.digest == entry.digest) return LineError(line_number, "the same token is listed twice");
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

absl::StatusOr<NewToken> MakeToken(const std::string& name, uint32_t scopes, const TokenLimits& limits) {
  if (!ValidName(name)) {
    return absl::InvalidArgumentError("a token name is 1-64 of A-Z a-z 0-9 . _ @ -");
  }
  if (scopes == 0) return absl::InvalidArgumentError("a token needs at least one scope");
  unsigned char random[32];
  if (::RAND_bytes(random, sizeof(random)) != 1) return absl::InternalError("no random bytes from OpenSSL");
  NewToken t;
  t.token = absl::StrCat("catdog_", absl::BytesToHexString(
                                        absl::string_view(reinterpret_cast<const char*>(random), sizeof(random))));
  const TokenDigest digest = Sha256(t.token);
  t.line = absl::StrCat("sha256:",
                        absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest.data()),
                                                                digest.size())),
                        " name=", name, " scopes=", ScopesToString(scopes));
  if (limits.max_active_jobs > 0) absl::StrAppend(&t.line, " max_active_jobs=", limits.max_active_jobs);
  if (limits.max_checkpoint_mb > 0) absl::StrAppend(&t.line, " max_checkpoint_mb=", limits.max_checkpoint_mb);
  if (limits.max_concurrent_classify > 0) {
    absl::StrAppend(&t.line, " max_concurrent_classify=", limits.max_concurrent_classify);
  }
  return t;
}

absl::StatusOr<std::unique_ptr<TokenRegistry>> TokenRegistry::Load(const std::string& path) {
  std::unique_ptr<TokenRegistry> registry(new TokenRegistry(path));
  if (absl::Status s = registry->Reload(); !s.ok()) return s;
  return registry;
}

absl::Status TokenRegistry::Reload() {
  std::ifstream in(path_);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("cannot read the tokens file ", path_));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::vector<TokenEntry>> entries = ParseTokensFile(text.str());
  if (!entries.ok()) return entries.status();
  if (entries->empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the tokens file ", path_, " holds no token"));
  }
  absl::MutexLock lock(&mu_);
  entries_ = *std::move(entries);
  return absl::OkStatus();
}

absl::StatusOr<Principal> TokenRegistry::Authenticate(absl::string_view token) const {
  const TokenDigest digest = Sha256(token);
  absl::MutexLock lock(&mu_);
  const Principal* found = nullptr;
  for (const TokenEntry& e : entries_) {
    if (CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0) found = &e.principal;
  }
  if (found == nullptr) return absl::UnauthenticatedError("the token is not valid on this server");
  return *found;
}

absl::StatusOr<TokenRegistry::ClassifySlot> TokenRegistry::AcquireClassify(const Principal& p) const {
  const int limit = p.limits.max_concurrent_classify;
  if (limit <= 0) return ClassifySlot();
  std::shared_ptr<std::atomic<int>> count;
  {
    absl::MutexLock lock(&mu_);
    std::shared_ptr<std::atomic<int>>& slot = classify_[p.name];
    if (slot == nullptr) slot = std::make_shared<std::atomic<int>>(0);
    count = slot;
  }
  if (count->fetch_add(1) >= limit) {
    count->fetch_sub(1);
    return absl::ResourceExhaustedError(absl::StrCat(
        "token '", p.name, "' already has ", limit, " Classify calls in flight (its max_concurrent_classify)"));
  }
  return ClassifySlot(std::move(count));
}

}  // namespace catdog::common
