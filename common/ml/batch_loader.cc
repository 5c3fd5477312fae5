#include "common/ml/batch_loader.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "common/data/image_io.h"
#include "common/data/log_format.h"
#include "common/data/random.h"
#include "common/data/transforms.h"
#include "common/ml/distributed.h"
#include "common/ml/tensor_conversion.h"
#include "common/ml/torch_status.h"

namespace catdog::common {

absl::StatusOr<std::unique_ptr<BatchLoader>> BatchLoader::Create(std::vector<Sample> samples,
                                                                 const LoaderOptions& options) {
  if (samples.empty()) return absl::InvalidArgumentError("batch loader: no samples");
  if (options.batch_size < 1) return absl::InvalidArgumentError("batch loader: batch_size < 1");
  if (options.num_workers < 1) return absl::InvalidArgumentError("batch loader: num_workers < 1");
  if (options.prefetch_batches < 1) {
    return absl::InvalidArgumentError("batch loader: prefetch_batches < 1");
  }
  if (absl::Status s = ValidateAugmentOptions(options.augment_options); !s.ok()) return s;
  if (options.shard_count < 1 || options.shard_rank < 0 || options.shard_rank >= options.shard_count) {
    return absl::InvalidArgumentError("batch loader: shard_rank must be in [0, shard_count)");
  }
  return std::unique_ptr<BatchLoader>(new BatchLoader(std::move(samples), options));
}

namespace {

// Positions (into an epoch's order of `count` samples) that this loader's
// shard takes.
std::vector<int64_t> ShardOf(int64_t count, const LoaderOptions& o) {
  if (o.pad_shards) return ShardPositions(count, o.shard_rank, o.shard_count);
  std::vector<int64_t> positions;
  for (int64_t p = o.shard_rank; p < count; p += o.shard_count) positions.push_back(p);
  return positions;
}

}  // namespace

BatchLoader::BatchLoader(std::vector<Sample> samples, const LoaderOptions& options)
    : samples_(std::move(samples)),
      options_(options),
      num_batches_((static_cast<int64_t>(ShardOf(static_cast<int64_t>(samples_.size()), options).size()) +
                    options.batch_size - 1) /
                   options.batch_size) {
  if (options_.cache_images) {
    absl::MutexLock lock(&cache_mu_);
    cache_.resize(samples_.size());
  }
  for (int i = 0; i < options_.num_workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

BatchLoader::~BatchLoader() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : workers_) t.join();
}

void BatchLoader::StartEpoch(int64_t epoch, int64_t first_batch) {
  auto order = std::make_shared<std::vector<size_t>>(samples_.size());
  std::iota(order->begin(), order->end(), 0);
  if (options_.shuffle) {
    Rng rng = Rng::Derive(options_.seed, static_cast<uint64_t>(epoch), 0x5348554646ULL);
    rng.Shuffle(*order);
  }
  if (options_.shard_count > 1) {
    auto shard = std::make_shared<std::vector<size_t>>();
    for (const int64_t p : ShardOf(static_cast<int64_t>(order->size()), options_)) shard->push_back((*order)[p]);
    order = std::move(shard);
  }
  absl::MutexLock lock(&mu_);
  ++generation_;
  epoch_ = epoch;
  order_ = std::move(order);
  next_claim_ = std::clamp<int64_t>(first_batch, 0, num_batches_);
  next_yield_ = next_claim_;
  ready_.clear();
  epoch_active_ = true;
}

bool BatchLoader::CanClaimLocked() const {
  return stopping_ || (epoch_active_ && next_claim_ < num_batches_ &&
                       next_claim_ < next_yield_ + options_.prefetch_batches);
}

void BatchLoader::WorkerLoop() {
  while (true) {
    int64_t generation, epoch, index;
    std::shared_ptr<const std::vector<size_t>> order;
    {
      absl::MutexLock lock(&mu_, absl::Condition(this, &BatchLoader::CanClaimLocked));
      if (stopping_) return;
      generation = generation_;
      epoch = epoch_;
      order = order_;
      index = next_claim_++;
    }
    // No exception may leave a worker thread: it would end the process.
    absl::StatusOr<Batch> produced =
        TorchCall(absl::StrCat("loading batch ", index), [&] { return Produce(*order, epoch, index); });
    Batch batch;
    if (produced.ok()) {
      batch = *std::move(produced);
    } else {
      batch.status = produced.status();
    }
    absl::MutexLock lock(&mu_);
    if (generation == generation_) ready_.emplace(index, std::move(batch));
  }
}

std::optional<cv::Mat> BatchLoader::LoadResized(size_t index) {
  if (options_.cache_images) {
    absl::MutexLock lock(&cache_mu_);
    if (!cache_[index].empty()) return cache_[index];
  }
  {
    absl::MutexLock lock(&mu_);
    if (bad_.contains(index)) return std::nullopt;
  }
  const Sample& sample = samples_[index];
  // Training with resized crops keeps a larger source to crop from.
  const int size = static_cast<int>(std::lround(
      options_.preprocessing.image_size * (options_.augment ? CropSourceScale(options_.augment_options) : 1.0)));
  absl::StatusOr<cv::Mat> decoded = ReadImageFile(sample.path, size, options_.confine_root);
  if (!decoded.ok()) {
    absl::MutexLock lock(&mu_);
    if (bad_.insert(index).second) {
      spdlog::warn("skipping undecodable image {}: {}", sample.path, decoded.status().message());
    }
    return std::nullopt;
  }
  cv::Mat resized = Resize(*decoded, size, size);
  if (options_.cache_images) {
    absl::MutexLock lock(&cache_mu_);
    cache_[index] = resized;
  }
  return resized;
}

Batch BatchLoader::Produce(const std::vector<size_t>& order, int64_t epoch, int64_t batch_index) {
  const size_t begin = static_cast<size_t>(batch_index) * options_.batch_size;
  const size_t end = std::min(order.size(), begin + options_.batch_size);
  std::vector<cv::Mat> images;
  std::vector<int64_t> labels;
  Batch batch;
  images.reserve(end - begin);
  for (size_t p = begin; p < end; ++p) {
    const size_t index = order[p];
    std::optional<cv::Mat> image = LoadResized(index);
    if (!image) continue;
    if (options_.augment) {
      Rng rng = Rng::Derive(options_.seed, static_cast<uint64_t>(epoch), index + 1);
      images.push_back(Augment(*image, options_.augment_options, rng, options_.preprocessing.image_size));
    } else {
      images.push_back(std::move(*image));
    }
    labels.push_back(samples_[index].label);
    batch.indices.push_back(index);
  }
  batch.images = ImagesToBatch(images, options_.preprocessing);
  batch.labels = torch::tensor(labels, torch::kInt64);
  if (options_.pin_memory && !images.empty()) batch.images = batch.images.pin_memory();
  return batch;
}

std::optional<Batch> BatchLoader::Next() {
  const auto start = std::chrono::steady_clock::now();
  absl::MutexLock lock(&mu_);
  while (epoch_active_ && next_yield_ < num_batches_) {
    const int64_t want = next_yield_;
    auto ready = [this, want]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || ready_.contains(want);
    };
    mu_.Await(absl::Condition(&ready));
    if (stopping_) break;
    auto node = ready_.extract(want);
    ++next_yield_;
    if (node.mapped().status.ok() && node.mapped().indices.empty()) continue;  // every file failed to decode
    wait_seconds_ +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return std::move(node.mapped());
  }
  epoch_active_ = false;
  return std::nullopt;
}

int64_t BatchLoader::position() const {
  absl::MutexLock lock(&mu_);
  return next_yield_;
}

int64_t BatchLoader::skipped_files() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(bad_.size());
}

double BatchLoader::wait_seconds() const {
  absl::MutexLock lock(&mu_);
  return wait_seconds_;
}

}  // namespace catdog::common
