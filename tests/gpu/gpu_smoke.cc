// GPU smoke check, run by hand on a CUDA host (CI has no GPU): builds the
// reference VGG16 on CUDA, trains it for a few steps from pinned host
// batches with non-blocking copies (the trainer's device path), evaluates
// with the on-device confusion count, round-trips a checkpoint onto the GPU,
// and times training and inference steps.
//
//   gpu_smoke [IMAGE_SIZE=224] [BATCH=16] [STEPS=30]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <torch/torch.h>

#include "common/checkpoint.h"
#include "common/device.h"
#include "common/vgg.h"

using catdog::common::Vgg16;

namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int Check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const int size = argc > 1 ? std::atoi(argv[1]) : 224;
  const int batch = argc > 2 ? std::atoi(argv[2]) : 16;
  const int steps = argc > 3 ? std::atoi(argv[3]) : 30;
  auto device = catdog::common::ResolveDevice("auto");
  if (!device.ok() || !device->is_cuda()) {
    std::printf("no CUDA device: %s\n", device.ok() ? "auto chose cpu" : device.status().ToString().c_str());
    return 2;
  }
  catdog::common::ConfigureDevice(*device);
  int failures = 0;
  torch::manual_seed(0);
  Vgg16 model(catdog::common::VggOptions{});
  model->to(*device);
  failures += Check(catdog::common::CountParameters(*model) == 16526466, "reference parameter count on CUDA");
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-4));

  // Host batches in pinned memory, as the loader makes them on a GPU host.
  auto images = torch::rand({batch, 3, size, size}).pin_memory();
  auto labels = torch::randint(0, 2, {batch}, torch::kInt64).pin_memory();
  model->train();
  double first_loss = 0, last_loss = 0;
  auto train_step = [&] {
    auto x = images.to(*device, /*non_blocking=*/true);
    auto y = labels.to(*device, /*non_blocking=*/true);
    adam.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    adam.step();
    return loss;
  };
  for (int i = 0; i < 5; ++i) train_step();  // warm-up: cuDNN autotuning
  torch::cuda::synchronize();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) {
    auto loss = train_step();
    if (i == 0) first_loss = loss.item<double>();
    if (i == steps - 1) last_loss = loss.item<double>();
  }
  torch::cuda::synchronize();
  const double train_s = Seconds(start);
  std::printf("train fp32 %dpx batch %d: %.1f images/s (%d steps, %.3f s); loss %.4f -> %.4f\n", size,
              batch, steps * batch / train_s, steps, train_s, first_loss, last_loss);
  failures += Check(last_loss < first_loss, "loss falls on a repeated batch");

  // Evaluation path: on-device confusion counts, one copy back.
  model->eval();
  {
    torch::NoGradGuard no_grad;
    auto logits = model->forward(images.to(*device));
    auto confusion = torch::zeros({4}, torch::TensorOptions(torch::kInt64).device(*device));
    auto y = labels.to(*device);
    confusion.index_add_(0, y * 2 + logits.argmax(1), torch::ones_like(y));
    failures += Check(confusion.sum().item<int64_t>() == batch, "on-device confusion counts");
  }

  // Inference throughput at the serving batch size.
  {
    torch::InferenceMode guard;
    auto x = torch::rand({32, 3, size, size}).to(*device);
    for (int i = 0; i < 5; ++i) model->forward(x);
    torch::cuda::synchronize();
    start = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) model->forward(x);
    torch::cuda::synchronize();
    std::printf("inference fp32 %dpx batch 32: %.1f images/s\n", size, steps * 32 / Seconds(start));
  }

  // Checkpoint written from CUDA weights, read back onto the GPU.
  const std::string path = "/tmp/catdog_gpu_smoke.ckpt";
  catdog::common::ModelCard card;
  card.class_names = {"cat", "dog"};
  card.preprocessing.image_size = size;
  const absl::Status saved = catdog::common::SaveCheckpoint(path, card, model, &adam);
  failures += Check(saved.ok(), "checkpoint saved from CUDA weights");
  auto loaded = catdog::common::LoadCheckpoint(path, *device);
  failures += Check(loaded.ok(), "checkpoint loaded onto CUDA");
  if (loaded.ok()) {
    torch::NoGradGuard no_grad;
    auto x = torch::rand({4, 3, size, size}).to(*device);
    const bool same = torch::allclose(model->forward(x), loaded->model->forward(x), 1e-5, 1e-5);
    failures += Check(same, "reloaded model predicts what the saved one did");
    failures += Check(loaded->model->parameters()[0].device().is_cuda(), "reloaded weights live on CUDA");
  }
  std::printf("%d failed\n", failures);
  return failures == 0 ? 0 : 1;
}
