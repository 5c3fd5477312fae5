// Data parallelism across processes over PyTorch's own collectives (c10d:
// Gloo on CPU), started the way torchrun, a Kubeflow PyTorchJob or a Slurm
// wrapper start PyTorch workers: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT in the environment, rank 0 hosting the rendezvous (c10d's
// TCPStore).
//
// As in PyTorch DDP: every rank holds the whole model, trains on a disjoint
// shard of each epoch, and the gradients are averaged before each optimizer
// step, so all ranks step identically. BatchNorm normalises each rank's own
// shard's batch; the running statistics drift apart between ranks, and
// rank 0's are broadcast before every validation (DDP's broadcast_buffers)
// and are the ones saved.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace catdog::common {

struct WorldInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

// nullopt when WORLD_SIZE is unset or 1 (one process); INVALID_ARGUMENT for
// values that do not fit together (RANK outside [0, WORLD_SIZE), no RANK, a
// bad port).
absl::StatusOr<std::optional<WorldInfo>> WorldFromEnvironment();

// The positions of `count` samples (in an epoch's order) that `rank` of
// `world_size` trains on: every world_size-th from `rank`, after padding the
// order by wrapping around so every rank gets ceil(count / world_size)
// (PyTorch's DistributedSampler with drop_last=False). Disjoint across ranks
// except for the padding, and together they cover every sample.
std::vector<int64_t> ShardPositions(int64_t count, int rank, int world_size);

// Whether this build has c10d's Gloo backend (Debian's LibTorch with
// libgloo-dev does; a LibTorch without its headers builds without).
bool DistributedAvailable();

// Where the ranks of one process meet: `world_size` threads, each joining
// with its own rank (TrainConfig::workers). An in-memory store (c10d's
// HashStore) replaces the TCPStore; the collectives are Gloo's over the
// loopback, as between processes. `timeout` bounds the joining and every
// collective, as ProcessGroup::Join's.
class LocalRendezvous {
 public:
  LocalRendezvous(int world_size, absl::Duration timeout);
  ~LocalRendezvous();
  LocalRendezvous(const LocalRendezvous&) = delete;
  LocalRendezvous& operator=(const LocalRendezvous&) = delete;
  int world_size() const { return world_size_; }
  absl::Duration timeout() const { return timeout_; }

 private:
  friend class ProcessGroup;
  struct Impl;
  int world_size_;
  absl::Duration timeout_;
  std::unique_ptr<Impl> impl_;
};

// Rank 0's side of a rendezvous for ranks it starts itself (child
// processes): the TCPStore listens on an OS-chosen port of 127.0.0.1 from
// construction, so the port can be handed to the others (MASTER_PORT)
// before ProcessGroup::JoinHost waits for them.
class RendezvousHost {
 public:
  // UNAVAILABLE when no port can be bound.
  static absl::StatusOr<std::unique_ptr<RendezvousHost>> Listen(int world_size, absl::Duration timeout);
  ~RendezvousHost();
  RendezvousHost(const RendezvousHost&) = delete;
  RendezvousHost& operator=(const RendezvousHost&) = delete;
  int port() const;
  int world_size() const { return world_size_; }
  absl::Duration timeout() const { return timeout_; }

 private:
  friend class ProcessGroup;
  struct Impl;
  RendezvousHost(int world_size, absl::Duration timeout, std::unique_ptr<Impl> impl);
  int world_size_;
  absl::Duration timeout_;
  std::unique_ptr<Impl> impl_;
};

class ProcessGroup {
 public:
  // Joins the group: rank 0 hosts the TCPStore at master_addr:master_port,
  // the others connect to it. UNAVAILABLE when the ranks do not all arrive
  // within `timeout`; every collective later fails with UNAVAILABLE after
  // `timeout` too, or at once when a peer's connection closes (a rank
  // that died), never hangs.
  static absl::StatusOr<std::unique_ptr<ProcessGroup>> Join(const WorldInfo& world, absl::Duration timeout);
  // Joins `rendezvous` as `rank` (each rank from its own thread: the call
  // returns once all have joined, or UNAVAILABLE after its timeout).
  static absl::StatusOr<std::unique_ptr<ProcessGroup>> JoinLocal(LocalRendezvous& rendezvous, int rank);
  // Joins `host`'s group as rank 0 once every other rank has reached the
  // store (Join announces each). While waiting, `check` is called a few times
  // a second: its first error (say, a child rank that exited) ends the wait
  // at once instead of after the host's timeout.
  static absl::StatusOr<std::unique_ptr<ProcessGroup>> JoinHost(RendezvousHost& host,
                                                                const std::function<absl::Status()>& check);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int world_size() const;

  // Replaces each tensor's gradient by its mean across ranks (a missing
  // gradient counts as zeros). The gradients are flattened into buckets of
  // about `bucket_bytes`, one allreduce per bucket, not one per tensor.
  // GradientReducer does the same while backward runs.
  absl::Status AverageGradients(const std::vector<at::Tensor>& parameters, int64_t bucket_bytes = int64_t{25} << 20);
  // Rank 0's values of `tensors`, copied into every rank's (initial weights).
  absl::Status Broadcast(const std::vector<at::Tensor>& tensors);
  // Sums `values` across ranks, in place (validation loss sums and counts).
  absl::Status Sum(std::vector<double>* values);
  // Rank 0's `value` on every rank (a decision all must share).
  absl::StatusOr<int64_t> BroadcastValue(int64_t value);

 private:
  friend class GradientReducer;
  struct Impl;
  explicit ProcessGroup(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Averages gradients across ranks while backward still runs, as PyTorch
// DDP's Reducer does: the parameters are grouped, in reverse order (the
// order backward produces their gradients), into buckets of about
// `bucket_bytes`; a hook on each parameter copies its gradient into its
// bucket, and a full bucket's allreduce starts on Gloo's threads while
// backward computes the earlier layers. Buckets start in index order on
// every rank, whatever order their gradients arrive in, so the ranks'
// collectives always pair up. Finish() waits for all of them and writes the
// means into the gradients: AverageGradients' means (bit for bit with two
// ranks; with more, Gloo may sum in another order).
//
// One backward pass between Finish() calls (no gradient accumulation over
// several). A parameter the pass does not reach, or a rank that skips
// backward (an empty batch) and calls Finish() alone, contributes zeros.
class GradientReducer {
 public:
  GradientReducer(ProcessGroup& group, std::vector<at::Tensor> parameters, int64_t bucket_bytes = int64_t{25} << 20);
  ~GradientReducer();  // removes the hooks
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // After backward, before the optimizer step. UNAVAILABLE when a
  // collective fails (a rank died or stalled); FAILED_PRECONDITION when a
  // parameter got two gradients since the last Finish().
  absl::Status Finish();
  int num_buckets() const;
  // Buckets whose allreduce has started in this pass (before Finish: the
  // ones backward has already filled).
  int started() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace catdog::common
