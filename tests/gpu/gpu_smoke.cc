// GPU smoke check, run by hand on a CUDA host (CI has no GPU): builds the
// reference VGG16 on CUDA, trains it for a few steps from pinned host
// batches with non-blocking copies (the trainer's device path) at fp32, bf16
// autocast and fp16 autocast with loss scaling (NCHW and channels-last, torch
// Adam and the trainer's multi-tensor Adam), evaluates with the on-device
// confusion count, builds the serving model at each precision, round-trips a
// checkpoint onto the GPU, and times training and inference steps.
//
//   gpu_smoke [IMAGE_SIZE=224] [BATCH=16] [STEPS=30]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include <torch/torch.h>

#include "common/ml/checkpoint.h"
#include "common/ml/device.h"
#include "common/ml/inference_model.h"
#include "common/ml/mixed_precision.h"
#include "common/ml/optimizer.h"
#include "common/ml/vgg.h"

using catdog::common::Precision;
using catdog::common::Vgg16;

namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int Check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "PASS" : "FAIL", what.c_str());
  return ok ? 0 : 1;
}

struct TrainRun {
  double images_per_second = 0, first_loss = 0, last_loss = 0;
};

struct TrainSetup {
  Precision precision;
  bool channels_last;
  bool multi_tensor_adam;  // the trainer's optimizer; else torch::optim::Adam
};

// `steps` timed training steps (after 5 warm-up steps: cuDNN autotuning) on
// one repeated pinned batch, from the same initial weights for every setup.
TrainRun Train(Vgg16& model, const c10::Device& device, const TrainSetup& setup, int size, int batch,
               int steps) {
  const Precision precision = setup.precision;
  torch::manual_seed(0);
  model = Vgg16(catdog::common::VggOptions{});
  model->to(device);
  if (setup.channels_last) catdog::common::ToChannelsLast(*model);
  model->train();
  const auto adam_options = torch::optim::AdamOptions(1e-4);
  std::unique_ptr<torch::optim::Adam> adam =
      setup.multi_tensor_adam
          ? std::make_unique<catdog::common::MultiTensorAdam>(model->parameters(), adam_options)
          : std::make_unique<torch::optim::Adam>(model->parameters(), adam_options);
  std::optional<catdog::common::LossScaler> scaler;
  if (precision == Precision::kFp16) scaler.emplace();
  auto images = torch::rand({batch, 3, size, size}).pin_memory();
  auto labels = torch::randint(0, 2, {batch}, torch::kInt64).pin_memory();
  auto step = [&] {
    auto x = images.to(device, /*non_blocking=*/true);
    auto y = labels.to(device, /*non_blocking=*/true);
    adam->zero_grad();
    at::Tensor loss;
    {
      catdog::common::AutocastScope autocast(device, precision);
      loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    }
    if (scaler) {
      scaler->Scale(loss).backward();
      const bool finite = scaler->Unscale(model->parameters());
      if (finite) adam->step();
      scaler->Update(finite);
    } else {
      loss.backward();
      adam->step();
    }
    return loss;
  };
  for (int i = 0; i < 5; ++i) step();
  torch::cuda::synchronize();
  TrainRun run;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) {
    auto loss = step();
    if (i == 0) run.first_loss = loss.item<double>();
    if (i == steps - 1) run.last_loss = loss.item<double>();
  }
  torch::cuda::synchronize();
  run.images_per_second = steps * batch / Seconds(start);
  return run;
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
  Vgg16 model{nullptr};
  // From the earlier setup (NCHW, one Adam kernel per operation and parameter)
  // to the trainer's (channels-last, multi-tensor Adam), for each precision.
  const TrainSetup setups[] = {
      {Precision::kFp16, true, true},   {Precision::kBf16, false, false},
      {Precision::kBf16, true, false},  {Precision::kBf16, true, true},
      {Precision::kFp32, false, false}, {Precision::kFp32, true, false},
      {Precision::kFp32, true, true},
  };
  for (const TrainSetup& setup : setups) {
    const TrainRun run = Train(model, *device, setup, size, batch, steps);
    const std::string name = catdog::common::PrecisionName(setup.precision) +
                             (setup.channels_last ? " channels-last" : " nchw") +
                             (setup.multi_tensor_adam ? " multi-tensor-adam" : " torch-adam");
    std::printf("train %s %dpx batch %d: %.1f images/s (%d steps); loss %.4f -> %.4f\n", name.c_str(),
                size, batch, run.images_per_second, steps, run.first_loss, run.last_loss);
    failures += Check(run.last_loss < run.first_loss, "loss falls on a repeated batch, " + name);
  }
  // `model` now holds the weights of the trainer's fp32 setup (channels-last).
  failures += Check(catdog::common::CountParameters(*model) == 16526466, "reference parameter count on CUDA");
  failures += Check(model->parameters()[0].device().is_cuda(), "weights live on CUDA");
  auto images = torch::rand({batch, 3, size, size}).pin_memory();
  auto labels = torch::randint(0, 2, {batch}, torch::kInt64).pin_memory();

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

  // Serving: the training module, then the serving model at each precision.
  {
    torch::InferenceMode guard;
    auto x = torch::rand({32, 3, size, size}).to(*device);
    auto time_forward = [&](const std::function<at::Tensor(const at::Tensor&)>& forward) {
      for (int i = 0; i < 5; ++i) forward(x);
      torch::cuda::synchronize();
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < steps; ++i) forward(x);
      torch::cuda::synchronize();
      return steps * 32 / Seconds(start);
    };
    std::printf("inference module fp32 %dpx batch 32: %.1f images/s\n", size,
                time_forward([&](const at::Tensor& t) { return model->forward(t); }));
    for (Precision p : {Precision::kFp32, Precision::kBf16, Precision::kFp16}) {
      const std::string name = catdog::common::PrecisionName(p);
      auto serving = catdog::common::InferenceVgg::Build(*model, {p, true, size});
      failures += Check(serving.ok(), "serving model builds and matches the module, " + name);
      if (!serving.ok()) {
        std::printf("  %s\n", serving.status().ToString().c_str());
        continue;
      }
      std::printf("inference serving %s (%s) %dpx batch 32: %.1f images/s\n", name.c_str(),
                  serving->description().c_str(), size,
                  time_forward([&](const at::Tensor& t) { return serving->Forward(t); }));
    }
  }

  // Checkpoint written from CUDA weights, read back onto the GPU.
  const std::string path = "/tmp/catdog_gpu_smoke.ckpt";
  catdog::common::ModelCard card;
  card.class_names = {"cat", "dog"};
  card.preprocessing.image_size = size;
  const absl::Status saved = catdog::common::SaveCheckpoint(path, card, model, nullptr);
  failures += Check(saved.ok(), "checkpoint saved from CUDA weights");
  auto loaded = catdog::common::LoadCheckpoint(path, *device);
  failures += Check(loaded.ok(), "checkpoint loaded onto CUDA");
  if (loaded.ok()) {
    torch::NoGradGuard no_grad;
    bool same_weights = true;
    const auto saved_params = model->parameters();
    const auto loaded_params = loaded->model->parameters();
    for (size_t i = 0; i < saved_params.size(); ++i) {
      same_weights = same_weights && torch::equal(saved_params[i], loaded_params[i]);
    }
    failures += Check(same_weights, "reloaded weights equal the saved ones");
    // Same layout as the saved model, so cuDNN runs the same algorithms (in
    // different layouts they differ at TF32 precision: 1e-2 was exceeded).
    catdog::common::ToChannelsLast(*loaded->model);
    auto x = torch::rand({4, 3, size, size}).to(*device);
    const bool same = torch::allclose(model->forward(x), loaded->model->forward(x), 1e-5, 1e-5);
    failures += Check(same, "reloaded model predicts what the saved one did");
    failures += Check(loaded->model->parameters()[0].device().is_cuda(), "reloaded weights live on CUDA");
  }
  std::printf("%d failed\n", failures);
  return failures == 0 ? 0 : 1;
}
