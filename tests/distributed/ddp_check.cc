// One rank of the data-parallel exactness check (tests/distributed/ddp_test.sh
// starts WORLD_SIZE of them). Every rank builds the same small VGG and batch;
// rank r trains on its shard (ShardPositions) and averages gradients with the
// others over Gloo. Each rank also computes, alone, the reference: the mean
// of every shard's gradient in one process. The averaged gradient must equal
// it to 1e-6 and the weights after --steps Adam steps to 1e-5. With
// --overlap the gradients are averaged by a GradientReducer while backward
// runs, whose hooks must have started the buckets by the time backward returns.
//
//   catdog-ddp-check [--steps K] [--overlap] [--die-after-join]
//   catdog-ddp-check --time-allreduce N   (bench/ddp.sh: N averagings of a
//                                          full-width VGG16's gradients)
//   catdog-ddp-check --time-step N [--width W] [--batch B] [--size S]
//                        (bench/ddp.sh: N training steps each, alternating,
//                         averaging after backward and while it runs)
// Exit: 0 equal, 1 different, 3 a collective failed (printed), 77 built
// without Gloo.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "common/ml/distributed.h"
#include "common/ml/vgg.h"

namespace {

using catdog::common::ShardPositions;
using catdog::common::Vgg16;
using catdog::common::VggOptions;

constexpr int kBatch = 12;  // split over the ranks
constexpr int kSize = 32;

Vgg16 Model() {
  torch::manual_seed(7);
  Vgg16 model(VggOptions{2, 0.125});
  model->train();
  return model;
}

double MaxDifference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
  return worst;
}

std::vector<torch::Tensor> Grads(Vgg16& model) {
  std::vector<torch::Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(p.grad().clone());
  return out;
}

std::vector<torch::Tensor> Weights(Vgg16& model) {
  std::vector<torch::Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(p.detach().clone());
  return out;
}

void Backward(Vgg16& model, const torch::Tensor& x, const torch::Tensor& y, double scale) {
  (torch::nn::functional::cross_entropy(model->forward(x), y) * scale).backward();
}

// Averages a full-width VGG16's gradients `repeat` times; prints each time.
int TimeAllreduce(catdog::common::ProcessGroup& group, int repeat) {
  Vgg16 model(VggOptions{2, 1.0});
  std::vector<torch::Tensor> params;
  int64_t bytes = 0;
  for (const auto& p : model->parameters()) {
    p.mutable_grad() = torch::randn_like(p);
    params.push_back(p);
    bytes += p.numel() * 4;
  }
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (auto s = group.AverageGradients(params); !s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      return 3;
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf("rank %d allreduce %.1f MB %.1f ms\n", group.rank(), bytes / 1e6, ms);
  }
  return 0;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Steps of forward + backward + gradient averaging, alternating between
// averaging after backward and a GradientReducer during it; prints each
// step's time and the medians.
int TimeSteps(catdog::common::ProcessGroup& group, int repeat, double width, int batch, int size) {
  torch::manual_seed(3);
  Vgg16 model(VggOptions{2, width});
  model->train();
  std::vector<torch::Tensor> params = model->parameters();
  const torch::Tensor x = torch::randn({batch, 3, size, size});
  const torch::Tensor y = torch::randint(0, 2, {batch}, torch::kLong);
  std::vector<double> after, during;
  for (int i = 0; i < 2 * repeat + 2; ++i) {  // the first pair warms up
    const bool overlap = i % 2 == 1;
    std::optional<catdog::common::GradientReducer> reducer;
    if (overlap) reducer.emplace(group, params);
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    const auto start = std::chrono::steady_clock::now();
    Backward(model, x, y, 1.0);
    const absl::Status s = overlap ? reducer->Finish() : group.AverageGradients(params);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      return 3;
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (i < 2) continue;
    (overlap ? during : after).push_back(ms);
    std::printf("rank %d step %s %.1f ms\n", group.rank(), overlap ? "overlapped" : "after-backward", ms);
  }
  std::printf("rank %d width %g batch %d size %d: median step %.1f ms averaging after backward, %.1f ms overlapped\n",
              group.rank(), width, batch, size, Median(after), Median(during));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 3;
  bool die_after_join = false;
  bool overlap = false;
  int time_allreduce = 0, time_step = 0, batch = 16, size = 64;
  double width = 0.5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--time-allreduce") == 0 && i + 1 < argc) time_allreduce = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--time-step") == 0 && i + 1 < argc) time_step = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--width") == 0 && i + 1 < argc) width = std::atof(argv[++i]);
    if (std::strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--size") == 0 && i + 1 < argc) size = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--overlap") == 0) overlap = true;
    if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--die-after-join") == 0) die_after_join = true;
  }
  torch::set_num_threads(1);
  if (!catdog::common::DistributedAvailable()) {
    std::fprintf(stderr, "built without c10d's Gloo backend\n");
    return 77;
  }
  auto world = catdog::common::WorldFromEnvironment();
  if (!world.ok() || !world->has_value()) {
    std::fprintf(stderr, "set WORLD_SIZE > 1, RANK, MASTER_ADDR, MASTER_PORT: %s\n",
                 world.ok() ? "WORLD_SIZE unset" : std::string(world.status().message()).c_str());
    return 2;
  }
  const catdog::common::WorldInfo w = **world;
  auto group = catdog::common::ProcessGroup::Join(w, absl::Seconds(20));
  if (!group.ok()) {
    std::fprintf(stderr, "%s\n", std::string(group.status().message()).c_str());
    return 3;
  }
  if (time_allreduce > 0) return TimeAllreduce(**group, time_allreduce);
  if (time_step > 0) return TimeSteps(**group, time_step, width, batch, size);
  if (die_after_join) {
    std::fprintf(stderr, "rank %d: exiting on purpose\n", w.rank);
    return 0;
  }

  torch::manual_seed(11);
  const torch::Tensor images = torch::randn({kBatch, 3, kSize, kSize});
  const torch::Tensor labels = torch::randint(0, 2, {kBatch}, torch::kLong);
  auto shard = [&](int rank) {
    const std::vector<int64_t> positions = ShardPositions(kBatch, rank, w.world_size);
    const torch::Tensor index = torch::tensor(positions, torch::kLong);
    return std::make_pair(images.index_select(0, index), labels.index_select(0, index));
  };

  Vgg16 ddp = Model();
  Vgg16 reference = Model();
  // Rank 0's initial weights everywhere (they are equal here; a real run's
  // ranks may seed differently).
  std::vector<torch::Tensor> params;
  for (const auto& p : ddp->parameters()) params.push_back(p);
  if (auto s = (*group)->Broadcast(params); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 3;
  }
  torch::optim::Adam ddp_adam(ddp->parameters(), torch::optim::AdamOptions(1e-3));
  torch::optim::Adam reference_adam(reference->parameters(), torch::optim::AdamOptions(1e-3));

  std::optional<catdog::common::GradientReducer> reducer;
  if (overlap) reducer.emplace(**group, params, /*bucket_bytes=*/64 << 10);
  double worst_grad = 0, worst_grad_scale = 0;
  int started_during_backward = 0;
  for (int step = 0; step < steps; ++step) {
    ddp_adam.zero_grad();
    const auto [x, y] = shard(w.rank);
    Backward(ddp, x, y, 1.0);
    if (reducer) started_during_backward = std::max(started_during_backward, reducer->started());
    if (auto s = reducer ? reducer->Finish() : (*group)->AverageGradients(params, /*bucket_bytes=*/64 << 10); !s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      return 3;
    }
    reference_adam.zero_grad();
    for (int r = 0; r < w.world_size; ++r) {
      const auto [rx, ry] = shard(r);
      Backward(reference, rx, ry, 1.0 / w.world_size);
    }
    const std::vector<torch::Tensor> g = Grads(ddp), ref = Grads(reference);
    worst_grad = std::max(worst_grad, MaxDifference(g, ref));
    for (const auto& t : ref) worst_grad_scale = std::max(worst_grad_scale, t.abs().max().item<double>());
    ddp_adam.step();
    reference_adam.step();
  }
  const double worst_weight = MaxDifference(Weights(ddp), Weights(reference));
  const bool equal = worst_grad <= 1e-6 * std::max(1.0, worst_grad_scale) && worst_weight <= 1e-5;
  if (reducer) {
    std::printf("rank %d: %d of %d buckets started by backward's hooks\n", w.rank, started_during_backward,
                reducer->num_buckets());
  }
  std::printf("rank %d of %d: %d steps, gradient max |diff| %.3g (largest gradient %.3g), weights max |diff| %.3g: %s\n",
              w.rank, w.world_size, steps, worst_grad, worst_grad_scale, worst_weight, equal ? "equal" : "DIFFERENT");
  if (reducer && started_during_backward == 0) return 1;  // nothing overlapped
  return equal ? 0 : 1;
}
