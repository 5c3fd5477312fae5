// Data-parallel ranks as child processes of the training process
// (TrainConfig::nproc_per_node): rank 0 trains on the caller's thread and
// hosts the rendezvous; ranks 1..N-1 are this program started again with
// `--rank-config -`, torchrun's environment (MASTER_ADDR, MASTER_PORT, RANK,
// LOCAL_RANK, WORLD_SIZE) and their TrainConfig as JSON on standard input.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace catdog::common {

// The program started for ranks 1..N-1: this process's own executable
// unless set (the tests start catdog-train). Its main() must hand the
// invocations IsChildRankInvocation recognises to RunChildRank.
void SetRankProgram(std::string path);
std::string RankProgram();

// Whether argv is `PROGRAM --rank-config -`.
bool IsChildRankInvocation(int argc, char** argv);

// A child rank's whole life: reads its TrainConfig (JSON) from standard
// input and torchrun's variables from the environment, joins the group and
// trains as that rank. Returns the exit code: 0; 130 when rank 0 stopped the
// run; 1 on an error, printed to standard error.
int RunChildRank();

class ChildRanks {
 public:
  // Starts RankProgram() for ranks 1..world_size-1 of a group hosted at
  // 127.0.0.1:`port`, each with `config_json` on its standard input and its
  // output appended to `log_dir`/rank-R.log. A child ignores SIGINT and
  // SIGTERM (a Ctrl-C or a service stop reaches the whole process group:
  // rank 0 alone decides when the ranks stop), and is killed when the thread
  // that started it ends, so none outlives a crashed parent.
  static absl::StatusOr<std::unique_ptr<ChildRanks>> Start(int world_size, int port, const std::string& config_json,
                                                           const std::string& log_dir);
  ~ChildRanks();  // kills (SIGKILL) and reaps the children still running
  ChildRanks(const ChildRanks&) = delete;
  ChildRanks& operator=(const ChildRanks&) = delete;

  // OK while every child runs or has exited with 0. Otherwise the first
  // failure: CANCELLED for a rank that stopped (exit 130), ABORTED naming
  // the rank, its pid, its exit status or signal and its log's last line.
  absl::Status Check();
  // Waits up to `timeout` for every child to exit, kills those still
  // running, then answers as Check.
  absl::Status Wait(absl::Duration timeout);
  std::vector<int> pids() const;

 private:
  struct Child {
    int rank;
    int pid;
    std::string log_path;
    bool reaped = false;
    int wait_status = 0;
  };
  explicit ChildRanks(std::vector<Child> children) : children_(std::move(children)) {}
  void Reap(bool block);
  std::vector<Child> children_;
};

}  // namespace catdog::common
