#include "common/ml/rank_processes.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/data/train_config.h"
#include "common/ml/distributed.h"
#include "common/ml/trainer.h"

extern char** environ;

namespace catdog::common {
namespace {

constexpr const char* kRankConfigFlag = "--rank-config";

std::mutex g_program_mu;
std::string g_program;  // empty: this executable

absl::Status ErrnoError(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// The last non-empty line of a child's log, for the error that names it.
std::string LastLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::string last;
  while (std::getline(in, line)) {
    if (!absl::StripAsciiWhitespace(line).empty()) last = line;
  }
  if (last.size() > 300) last = last.substr(last.size() - 300);
  return last;
}

}  // namespace

void SetRankProgram(std::string path) {
  std::lock_guard<std::mutex> lock(g_program_mu);
  g_program = std::move(path);
}

std::string RankProgram() {
  std::lock_guard<std::mutex> lock(g_program_mu);
  return g_program.empty() ? "/proc/self/exe" : g_program;
}

bool IsChildRankInvocation(int argc, char** argv) {
  return argc == 3 && std::strcmp(argv[1], kRankConfigFlag) == 0 && std::strcmp(argv[2], "-") == 0;
}

int RunChildRank() {
  const std::string json((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  auto fail = [](const absl::Status& status) {
    std::fprintf(stderr, "rank failed: %s\n", status.ToString().c_str());
    return 1;
  };
  absl::StatusOr<TrainConfig> config = TrainConfigFromJson(json);
  if (!config.ok()) return fail(config.status());
  absl::StatusOr<std::optional<WorldInfo>> world = WorldFromEnvironment();
  if (!world.ok()) return fail(world.status());
  if (!world->has_value()) return fail(absl::InvalidArgumentError("WORLD_SIZE is not set above 1"));
  const WorldInfo& w = **world;
  spdlog::set_pattern(absl::StrFormat("[%%Y-%%m-%%d %%H:%%M:%%S.%%e] [rank %d] [%%l] %%v", w.rank));
  // Joined first, so rank 0 sees this rank arrive; an error after this
  // closes the connections, which fails rank 0 at its next collective.
  absl::StatusOr<std::unique_ptr<ProcessGroup>> group = ProcessGroup::Join(w, absl::Minutes(10));
  if (!group.ok()) return fail(group.status());
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(*config);
  if (!trainer.ok()) return fail(trainer.status());
  (*trainer)->set_process_group(group->get());
  absl::StatusOr<TrainingResult> result = (*trainer)->Run(nullptr, nullptr);
  if (absl::IsCancelled(result.status())) return 130;
  if (!result.ok()) return fail(result.status());
  return 0;
}

absl::StatusOr<std::unique_ptr<ChildRanks>> ChildRanks::Start(int world_size, int port, const std::string& config_json,
                                                             const std::string& log_dir) {
  // The config goes into the pipe before the child exists: a pipe holds 64
  // KiB, and a child that dies early cannot make this write raise SIGPIPE.
  if (config_json.size() >= 60000) return absl::InvalidArgumentError("rank config too large for a pipe");
  const std::string program = RankProgram();
  std::vector<std::string> base_env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    if (name == "MASTER_ADDR" || name == "MASTER_PORT" || name == "RANK" || name == "LOCAL_RANK" ||
        name == "WORLD_SIZE") {
      continue;
    }
    base_env.push_back(entry);
  }
  std::unique_ptr<ChildRanks> ranks(new ChildRanks({}));  // kills what started if a later rank fails to
  for (int rank = 1; rank < world_size; ++rank) {
    const std::string log_path = absl::StrCat(log_dir, "/rank-", rank, ".log");
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return ErrnoError(absl::StrCat("cannot open ", log_path));
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      ::close(log_fd);
      return ErrnoError("pipe");
    }
    size_t written = 0;
    while (written < config_json.size()) {
      const ssize_t n = ::write(pipe_fds[1], config_json.data() + written, config_json.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      written += static_cast<size_t>(n);
    }
    ::close(pipe_fds[1]);
    if (written != config_json.size()) {
      ::close(pipe_fds[0]);
      ::close(log_fd);
      return ErrnoError("writing the rank config");
    }
    // Everything the child needs, made before fork: between fork and exec a
    // multi-threaded parent's child may only make async-signal-safe calls.
    std::vector<std::string> env = base_env;
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back(absl::StrCat("MASTER_PORT=", port));
    env.push_back(absl::StrCat("RANK=", rank));
    env.push_back(absl::StrCat("LOCAL_RANK=", rank));
    env.push_back(absl::StrCat("WORLD_SIZE=", world_size));
    std::vector<char*> envp;
    for (std::string& entry : env) envp.push_back(entry.data());
    envp.push_back(nullptr);
    // `ps` shows the binary's name, not /proc/self/exe.
    std::string arg0 = program;
    if (program == "/proc/self/exe") {
      std::error_code ec;
      const std::filesystem::path self = std::filesystem::read_symlink(program, ec);
      if (!ec) arg0 = self.string();
    }
    std::string arg1 = kRankConfigFlag;
    std::string arg2 = "-";
    char* argv[] = {arg0.data(), arg1.data(), arg2.data(), nullptr};
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent died already
      ::dup2(pipe_fds[0], 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
#ifdef SYS_close_range
      ::syscall(SYS_close_range, 3U, ~0U, 0U);  // the parent's sockets and files
#endif
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      struct sigaction ignore {};
      ignore.sa_handler = SIG_IGN;
      ::sigaction(SIGINT, &ignore, nullptr);
      ::sigaction(SIGTERM, &ignore, nullptr);
      ::execve(program.c_str(), argv, envp.data());
      ::_exit(127);
    }
    const int fork_errno = errno;
    ::close(pipe_fds[0]);
    ::close(log_fd);
    if (pid < 0) {
      errno = fork_errno;
      return ErrnoError("fork");
    }
    spdlog::info("rank {} of {}: pid {}, log {}", rank, world_size, pid, log_path);
    ranks->children_.push_back(Child{rank, pid, log_path});
  }
  return ranks;
}

ChildRanks::~ChildRanks() {
  for (Child& c : children_) {
    if (!c.reaped) ::kill(c.pid, SIGKILL);
  }
  Reap(/*block=*/true);
}

void ChildRanks::Reap(bool block) {
  for (Child& c : children_) {
    if (c.reaped) continue;
    int status = 0;
    pid_t done;
    do {
      done = ::waitpid(c.pid, &status, block ? 0 : WNOHANG);
    } while (done < 0 && errno == EINTR);
    if (done == c.pid) {
      c.reaped = true;
      c.wait_status = status;
    } else if (done < 0) {  // not our child any more (SIGCHLD ignored): nothing to report
      c.reaped = true;
    }
  }
}

absl::Status ChildRanks::Check() {
  Reap(/*block=*/false);
  for (const Child& c : children_) {
    if (!c.reaped) continue;
    const int s = c.wait_status;
    if (WIFEXITED(s) && WEXITSTATUS(s) == 0) continue;
    if (WIFEXITED(s) && WEXITSTATUS(s) == 130) {
      return absl::CancelledError(absl::StrCat("rank ", c.rank, " stopped"));
    }
    const std::string how = WIFSIGNALED(s)
                                ? absl::StrCat("was killed by signal ", WTERMSIG(s), " (", strsignal(WTERMSIG(s)), ")")
                                : absl::StrCat("exited with status ", WEXITSTATUS(s));
    const std::string last = LastLine(c.log_path);
    return absl::AbortedError(absl::StrCat("rank ", c.rank, " (pid ", c.pid, ") ", how,
                                           last.empty() ? "" : absl::StrCat(": ", last), " [log: ", c.log_path,
                                           "]"));
  }
  return absl::OkStatus();
}

absl::Status ChildRanks::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    Reap(/*block=*/false);
    bool running = false;
    for (const Child& c : children_) running = running || !c.reaped;
    if (!running) break;
    if (absl::Now() > deadline) {
      for (const Child& c : children_) {
        if (!c.reaped) {
          spdlog::warn("rank {} (pid {}) still runs {} after rank 0 ended: killed", c.rank, c.pid,
                       absl::FormatDuration(timeout));
          ::kill(c.pid, SIGKILL);
        }
      }
      Reap(/*block=*/true);
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return Check();
}

std::vector<int> ChildRanks::pids() const {
  std::vector<int> pids;
  for (const Child& c : children_) pids.push_back(c.pid);
  return pids;
}

}  // namespace catdog::common
