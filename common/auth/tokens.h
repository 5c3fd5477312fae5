// Bearer tokens with scopes, as catdogd checks them and catdogctl makes
// them. The tokens file holds one token per line, hashed, never the token:
//
//   # comment
//   sha256:<64 hex digits> name=alice scopes=train,inference max_active_jobs=2
//
// Keys after the hash: name (required; [A-Za-z0-9._@-], at most 64, unique:
// it is recorded as the owner of the jobs the token starts), scopes
// (required; inference, train, admin), and optional per-token quotas
// (0 or absent = no limit): max_active_jobs (queued + running),
// max_checkpoint_mb (checkpoint files of all the token's jobs),
// max_concurrent_classify (Classify calls in flight).
//
// No gRPC here: server/rpc/authorize.h reads the token off a call.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace catdog::common {

enum Scope : uint32_t {
  kScopeInference = 1,  // Classify; read models, the serving model and stats
  kScopeTrain = 2,      // start, cancel, resume and delete own jobs; read and watch jobs
  kScopeAdmin = 4,      // everything: promote, and any job, whoever owns it
};
const char* ScopeName(Scope scope);
// "inference,train" -> bits; INVALID_ARGUMENT naming an unknown scope.
absl::StatusOr<uint32_t> ParseScopes(absl::string_view text);
std::string ScopesToString(uint32_t scopes);

struct TokenLimits {
  int max_active_jobs = 0;
  int64_t max_checkpoint_mb = 0;
  int max_concurrent_classify = 0;
};

// Who a call comes from. With tokens off every caller is the anonymous
// principal, which may do everything.
struct Principal {
  std::string name;  // empty for the anonymous principal
  uint32_t scopes = kScopeInference | kScopeTrain | kScopeAdmin;
  TokenLimits limits;

  bool Has(Scope scope) const { return (scopes & (scope | kScopeAdmin)) != 0; }
  // Admins and the owner may change a job; anyone may when tokens are off.
  bool MayModify(const std::string& owner) const { return name.empty() || Has(kScopeAdmin) || owner == name; }
};

using TokenDigest = std::array<uint8_t, 32>;
TokenDigest Sha256(absl::string_view data);

struct TokenEntry {
  TokenDigest digest;
  Principal principal;
};

// Parses a tokens file; INVALID_ARGUMENT naming the line for anything it
// does not understand (a typo must not silently drop a limit).
absl::StatusOr<std::vector<TokenEntry>> ParseTokensFile(absl::string_view text);

// A new random token (32 bytes from the OS, hex) and its tokens-file line.
struct NewToken {
  std::string token;
  std::string line;
};
absl::StatusOr<NewToken> MakeToken(const std::string& name, uint32_t scopes, const TokenLimits& limits);

// The tokens catdogd accepts, from a file, reloadable. Thread-safe.
class TokenRegistry {
 public:
  // FAILED_PRECONDITION when the file cannot be read, INVALID_ARGUMENT when
  // it does not parse or holds no token.
  static absl::StatusOr<std::unique_ptr<TokenRegistry>> Load(const std::string& path);

  // Reads the file again; on any error keeps the tokens it had.
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(mu_);

  // UNAUTHENTICATED for an unknown token. Every entry is compared, in
  // constant time, so the time taken says nothing about the token.
  absl::StatusOr<Principal> Authenticate(absl::string_view token) const ABSL_LOCKS_EXCLUDED(mu_);

  // A Classify call in flight for `p`, until Release or destruction.
  class ClassifySlot {
   public:
    ClassifySlot() = default;
    explicit ClassifySlot(std::shared_ptr<std::atomic<int>> count) : count_(std::move(count)) {}
    ClassifySlot(ClassifySlot&& other) noexcept : count_(std::move(other.count_)) {}
    ClassifySlot& operator=(ClassifySlot&& other) noexcept {
      if (this != &other) {
        Release();
        count_ = std::move(other.count_);
      }
      return *this;
    }
    ~ClassifySlot() { Release(); }
    // Idempotent. Before the answer is sent, so the caller's next call finds
    // the slot free.
    void Release() {
      if (count_ != nullptr) count_->fetch_sub(1);
      count_.reset();
    }

   private:
    std::shared_ptr<std::atomic<int>> count_;
  };
  // RESOURCE_EXHAUSTED when `p` already has its max_concurrent_classify calls.
  absl::StatusOr<ClassifySlot> AcquireClassify(const Principal& p) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit TokenRegistry(std::string path) : path_(std::move(path)) {}

  const std::string path_;
  mutable absl::Mutex mu_;
  std::vector<TokenEntry> entries_ ABSL_GUARDED_BY(mu_);
  // In-flight Classify calls per token name.
  mutable absl::flat_hash_map<std::string, std::shared_ptr<std::atomic<int>>> classify_ ABSL_GUARDED_BY(mu_);
};

}  // namespace catdog::common
