// Multi-threaded batch loader: decodes and resizes images in a pool of
// worker threads, a bounded number of batches ahead of the consumer, and can
// keep the decoded, resized uint8 images in memory so later epochs decode
// nothing. Batches come out in a deterministic order for a given seed and
// epoch, whatever the thread timing; augmentation draws are seeded per
// (seed, epoch, sample), so they are deterministic too.
//
// Files that fail to decode are skipped (one warning each, counted), never
// replaced by a zero image; a batch may then be smaller than batch_size.
//
// Thread-safety: StartEpoch/Next are called from one consumer thread;
// skipped_files()/wait_seconds() from any thread. The destructor stops and
// joins the workers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core/mat.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/data/image_folder.h"
#include "common/data/train_config.h"

namespace catdog::common {

struct LoaderOptions {
  int batch_size = 16;
  Preprocessing preprocessing;
  bool shuffle = false;
  uint64_t seed = 42;
  bool augment = false;  // apply augment_options (training only)
  AugmentOptions augment_options;
  int num_workers = 2;
  int prefetch_batches = 4;  // batches decoded ahead of the consumer
  bool cache_images = false;  // keep resized uint8 images after first decode
  bool pin_memory = false;    // page-locked batches for async host->GPU copies (CUDA only)
  std::string confine_root;   // when set, files are read only within it (common/data/confinement.h)
  // Data parallelism: each epoch yields only rank `shard_rank` of
  // `shard_count`'s part of the epoch's order (common/ml/distributed.h
  // ShardPositions). Padded parts are equal in size, as training needs (every
  // rank takes the same number of steps); unpadded ones take every sample
  // exactly once, as evaluation needs.
  int shard_rank = 0;
  int shard_count = 1;
  bool pad_shards = true;
};

struct Batch {
  at::Tensor images;            // N x 3 x H x W float32
  at::Tensor labels;            // N int64
  std::vector<size_t> indices;  // positions in the loader's sample list
  // Not OK when building the batch failed (OpenCV, LibTorch, out of memory
  // in a worker thread); the other members are then empty.
  absl::Status status;
};

class BatchLoader {
 public:
  // INVALID_ARGUMENT for an empty sample list or bad options.
  static absl::StatusOr<std::unique_ptr<BatchLoader>> Create(std::vector<Sample> samples,
                                                             const LoaderOptions& options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  size_t size() const { return samples_.size(); }
  int64_t num_batches() const { return num_batches_; }

  // Begins epoch `epoch` at batch `first_batch` (a resumed run skips the
  // batches it already trained, without decoding them); batches of an
  // unfinished previous epoch are dropped.
  void StartEpoch(int64_t epoch, int64_t first_batch = 0) ABSL_LOCKS_EXCLUDED(mu_);
  // The next batch of the current epoch, or nullopt at its end.
  std::optional<Batch> Next() ABSL_LOCKS_EXCLUDED(mu_);
  // Batches of the current epoch handed out (or skipped as undecodable) so
  // far, counting from 0: where StartEpoch would continue.
  int64_t position() const ABSL_LOCKS_EXCLUDED(mu_);

  int64_t skipped_files() const ABSL_LOCKS_EXCLUDED(mu_);
  double wait_seconds() const ABSL_LOCKS_EXCLUDED(mu_);  // total time Next() blocked

 private:
  BatchLoader(std::vector<Sample> samples, const LoaderOptions& options);
  void WorkerLoop() ABSL_LOCKS_EXCLUDED(mu_);
  bool CanClaimLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Batch Produce(const std::vector<size_t>& order, int64_t epoch, int64_t batch_index)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Decoded and resized; from the cache when present. nullopt = undecodable.
  std::optional<cv::Mat> LoadResized(size_t index) ABSL_LOCKS_EXCLUDED(mu_, cache_mu_);

  // Constant after construction.
  const std::vector<Sample> samples_;
  const LoaderOptions options_;
  const int64_t num_batches_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool epoch_active_ ABSL_GUARDED_BY(mu_) = false;
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // bumps on StartEpoch; stale work is dropped
  int64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const std::vector<size_t>> order_ ABSL_GUARDED_BY(mu_);
  int64_t next_claim_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_yield_ ABSL_GUARDED_BY(mu_) = 0;
  absl::btree_map<int64_t, Batch> ready_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<size_t> bad_ ABSL_GUARDED_BY(mu_);
  double wait_seconds_ ABSL_GUARDED_BY(mu_) = 0.0;

  // Separate lock so cache reads never wait for batch bookkeeping.
  mutable absl::Mutex cache_mu_;
  std::vector<cv::Mat> cache_ ABSL_GUARDED_BY(cache_mu_);

  // Last member: the threads start after everything above is initialised.
  std::vector<std::thread> workers_;
};

}  // namespace catdog::common
