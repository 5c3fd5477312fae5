// catdog-bench: micro-benchmarks for the suite in bench/run.sh. Each prints
// one JSON object on stdout.
//
//   catdog-bench compute  --image-size 64 --batch 16 --batches 20 --threads 2 [--width 1] [--nchw]
//       forward + backward + Adam step on tensors already in memory, model
//       and optimizer as the trainer sets them up: the training compute
//       limit, no data loading. --nchw keeps the weights in NCHW.
//   catdog-bench forward  --checkpoint PATH --batch B --iters N --threads 2
//       the serving model's forward pass alone (InferenceMode), per batch.
//   catdog-bench decode   --image-size 64 FILE...
//       decode + resize, one thread, images per second.
//   catdog-bench make-checkpoint --out PATH --image-size 64 [--width 1]
//       a checkpoint of the reference VGG16 with seeded random weights.
//   catdog-bench eval-sizes --checkpoint PATH --test-root DIR SIZE...
//       a trained checkpoint's accuracy on its run's validation split (from
//       the config in its card) and on DIR, evaluated at each SIZE px.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "common/data/image_folder.h"
#include "common/data/image_io.h"
#include "common/data/train_config.h"
#include "common/data/transforms.h"
#include "common/ml/checkpoint.h"
#include "common/ml/batch_loader.h"
#include "common/ml/device.h"
#include "common/ml/evaluation.h"
#include "common/ml/inference_model.h"
#include "common/ml/optimizer.h"
#include "common/ml/vgg.h"

namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int Compute(int size, int batch, int batches, double width, bool nchw) {
  torch::manual_seed(0);
  catdog::common::Vgg16 model(catdog::common::VggOptions{2, width});
  if (!nchw) catdog::common::ToChannelsLast(*model);
  model->train();
  catdog::common::MultiTensorAdam adam(model->parameters(), torch::optim::AdamOptions(1e-4));  // as the trainer
  auto x = torch::rand({batch, 3, size, size});
  auto y = torch::randint(0, 2, {batch}, torch::kInt64);
  auto step = [&] {
    adam.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    adam.step();
    return loss.item<double>();
  };
  step();  // warm-up: first-call allocations
  const auto start = Clock::now();
  for (int i = 0; i < batches; ++i) step();
  const double s = Since(start);
  std::printf("{\"bench\":\"compute\",\"image_size\":%d,\"batch\":%d,\"batches\":%d,\"seconds\":%.3f,"
              "\"images_per_second\":%.3f,\"layout\":\"%s\"}\n", size, batch, batches, s, batches * batch / s,
              nchw ? "nchw" : "channels_last");
  return 0;
}

// The serving model's forward pass (InferenceVgg, as catdogd runs it), or
// with `module` the checkpoint's training module in eval mode.
int Forward(const std::string& path, int batch, int iters, bool module) {
  auto loaded = catdog::common::LoadCheckpoint(path, c10::Device(c10::kCPU));
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
    return 1;
  }
  const int size = loaded->card.preprocessing.image_size;
  catdog::common::InferenceOptions options;
  options.probe_image_size = size;
  auto serving = catdog::common::InferenceVgg::Build(*loaded->model, options);
  if (!serving.ok()) {
    std::fprintf(stderr, "%s\n", serving.status().ToString().c_str());
    return 1;
  }
  torch::InferenceMode guard;
  auto run = [&](const torch::Tensor& x) {
    return module ? loaded->model->forward(x) : serving->Forward(x);
  };
  auto x = torch::rand({batch, 3, size, size});
  run(x);  // warm-up
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    const auto start = Clock::now();
    run(x);
    ms.push_back(Since(start) * 1000);
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  std::printf("{\"bench\":\"forward\",\"engine\":\"%s\",\"image_size\":%d,\"batch\":%d,\"iters\":%d,"
              "\"median_ms\":%.3f,\"images_per_second\":%.3f}\n",
              module ? "module" : serving->description().c_str(), size, batch, iters, median,
              batch * 1000.0 / median);
  return 0;
}

int Decode(int size, const std::vector<std::string>& files) {
  std::vector<std::string> bytes;
  for (const auto& f : files) {
    auto b = catdog::common::ReadFileBytes(f);
    if (!b.ok()) return 1;
    bytes.push_back(*std::move(b));
  }
  const auto start = Clock::now();
  int decoded = 0;
  for (const auto& b : bytes) {
    auto rgb = catdog::common::DecodeImageAtLeast(b, size);
    if (!rgb.ok()) continue;
    const cv::Mat small = catdog::common::Resize(*rgb, size, size);
    decoded += small.rows == size;
  }
  const double s = Since(start);
  std::printf("{\"bench\":\"decode\",\"image_size\":%d,\"images\":%d,\"seconds\":%.3f,"
              "\"images_per_second\":%.3f}\n", size, decoded, s, decoded / s);
  return 0;
}

int MakeCheckpoint(const std::string& out, int size, double width) {
  torch::manual_seed(0);
  catdog::common::Vgg16 model(catdog::common::VggOptions{2, width});
  model->eval();
  catdog::common::ModelCard card;
  card.width = width;
  card.class_names = {"cat", "dog"};
  card.preprocessing.image_size = size;
  card.kind = "bench";
  const absl::Status s = catdog::common::SaveCheckpoint(out, card, model, nullptr);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("{\"bench\":\"make-checkpoint\",\"path\":\"%s\"}\n", out.c_str());
  return 0;
}

int EvalSizes(const std::string& path, const std::string& test_root, const std::vector<int>& sizes) {
  auto fail = [](const absl::Status& s) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  };
  const c10::Device cpu(c10::kCPU);
  auto checkpoint = catdog::common::LoadCheckpoint(path, cpu);
  if (!checkpoint.ok()) return fail(checkpoint.status());
  auto config = catdog::common::TrainConfigFromJson(checkpoint->card.train_config_json);
  if (!config.ok()) return fail(config.status());
  auto dataset = catdog::common::ScanImageFolder(config->dataset_root);
  if (!dataset.ok()) return fail(dataset.status());
  auto test = catdog::common::ScanImageFolder(test_root);
  if (!test.ok()) return fail(test.status());
  const int classes = static_cast<int>(dataset->classes.size());
  const auto split = catdog::common::StratifiedSplit(dataset->samples, classes, config->valid_fraction,
                                                     config->split_seed);
  for (const int size : sizes) {
    catdog::common::LoaderOptions options;
    options.batch_size = 32;
    options.preprocessing = checkpoint->card.preprocessing;  // normalisation and mirror averaging as trained
    options.preprocessing.image_size = size;
    double accuracy[2] = {0, 0};
    std::string recalls;  // the test photos', by class
    for (int k = 0; k < 2; ++k) {
      auto loader = catdog::common::BatchLoader::Create(k == 0 ? split.valid : test->samples, options);
      if (!loader.ok()) return fail(loader.status());
      auto m = catdog::common::Evaluate(checkpoint->model, **loader, cpu, classes, nullptr,
                                        options.preprocessing.tta_flip);
      if (!m.ok()) return fail(m.status());
      accuracy[k] = m->accuracy;
      for (size_t c = 0; k == 1 && c < m->recall.size(); ++c) {
        absl::StrAppendFormat(&recalls, "%s\"%s\":%.4f", c == 0 ? "" : ",", test->classes[c], m->recall[c]);
      }
    }
    std::printf("{\"bench\":\"eval-sizes\",\"checkpoint\":\"%s\",\"size\":%d,\"valid_accuracy\":%.4f,"
                "\"test_accuracy\":%.4f,\"test_recall\":{%s}}\n", path.c_str(), size, accuracy[0], accuracy[1],
                recalls.c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"catdog-bench: micro-benchmarks (JSON on stdout)"};
  app.require_subcommand(1);
  int size = 64, batch = 16, batches = 20, iters = 30, threads = 0;
  double width = 1.0;
  std::string checkpoint, out;
  std::vector<std::string> files;
  app.add_option("--threads", threads, "intra-op threads (0 = all cores)");
  auto* compute = app.add_subcommand("compute", "forward+backward+Adam on in-memory tensors");
  auto* forward = app.add_subcommand("forward", "serving model forward pass alone");
  auto* decode = app.add_subcommand("decode", "decode + resize on one thread");
  auto* make = app.add_subcommand("make-checkpoint", "reference VGG16 with seeded random weights");
  auto* eval_sizes = app.add_subcommand("eval-sizes", "a checkpoint's validation and test accuracy at several sizes");
  std::string test_root;
  std::vector<int> sizes;
  eval_sizes->add_option("--checkpoint", checkpoint)->required();
  eval_sizes->add_option("--test-root", test_root)->required();
  eval_sizes->add_option("sizes", sizes, "px")->required();
  for (auto* sub : {compute, decode, make}) sub->add_option("--image-size", size)->capture_default_str();
  for (auto* sub : {compute, make}) sub->add_option("--width", width)->capture_default_str();
  for (auto* sub : {compute, forward}) sub->add_option("--batch", batch)->capture_default_str();
  compute->add_option("--batches", batches)->capture_default_str();
  bool nchw = false;
  compute->add_flag("--nchw", nchw, "keep the weights in NCHW (the trainer uses channels-last)");
  forward->add_option("--iters", iters)->capture_default_str();
  forward->add_option("--checkpoint", checkpoint)->required();
  bool module = false;
  forward->add_flag("--module", module, "time the unfolded training module instead");
  decode->add_option("files", files)->required();
  make->add_option("--out", out)->required();
  CLI11_PARSE(app, argc, argv);
  catdog::common::ConfigureHostAllocator();
  catdog::common::ConfigureThreads(threads);
  if (*compute) return Compute(size, batch, batches, width, nchw);
  if (*forward) return Forward(checkpoint, batch, iters, module);
  if (*decode) return Decode(size, files);
  if (*eval_sizes) return EvalSizes(checkpoint, test_root, sizes);
  return MakeCheckpoint(out, size, width);
}
