// catdog-train: runs one training job in this process, without a server.
// For experiments, benchmarks and debugging the core; catdogd runs the same
// trainer for real jobs.
#include <csignal>
#include <cstdio>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "absl/strings/str_format.h"
#include "common/data/train_flags.h"
#include "common/ml/device.h"
#include "common/ml/trainer.h"

namespace {

class PrintingObserver : public catdog::common::TrainingObserver {
 public:
  void OnEpochEnd(const catdog::common::EpochMetrics& m) override {
    if (!header_printed_) {
      std::printf("%5s %10s %10s %9s %9s %7s %8s %8s %7s %6s\n", "epoch", "train_loss", "valid_loss",
                  "valid_acc", "lr", "trigger", "seconds", "img/s", "wait_s", "best");
      header_printed_ = true;
    }
    std::printf("%5lld %10.4f %10.4f %9.4f %9.2g %7lld %8.1f %8.1f %7.2f %6s\n",
                static_cast<long long>(m.epoch), m.train_loss, m.valid_loss, m.valid_accuracy,
                m.learning_rate, static_cast<long long>(m.early_stop_trigger), m.seconds,
                m.train_images_per_second, m.data_wait_seconds, m.is_best ? "*" : "");
    std::fflush(stdout);
  }
  void OnTestEvaluation(catdog::common::CheckpointKind kind,
                        const catdog::common::EvalMetrics& m) override {
    std::printf("test (%s weights): loss %.4f accuracy %.4f on %lld images\n",
                catdog::common::CheckpointKindName(kind), m.loss, m.accuracy,
                static_cast<long long>(m.count));
  }

 private:
  bool header_printed_ = false;
};

catdog::common::StopToken g_stop;

// SIGINT / SIGTERM: stop at the next batch, keeping what the checkpoints
// hold (a lock-free atomic store is safe in a signal handler).
void RequestStop(int) { g_stop.RequestStop(); }

}  // namespace

int main(int argc, char** argv) {
  catdog::common::TrainConfig config;
  CLI::App app{"catdog-train: train the reference VGG16 recipe locally (no server)"};
  app.add_option("dataset", config.dataset_root, "ImageFolder root (one sub-folder per class)")->required();
  app.add_option("--out", config.output_dir, "folder for best.ckpt and last.ckpt")->required();
  app.add_option("--tensorboard", config.tensorboard_dir, "TensorBoard run folder (empty = off)");
  app.add_flag("--resume", config.resume,
               "continue the run whose checkpoints are in --out (same dataset, width and image size) "
               "from its last complete epoch, or its mid-epoch checkpoint");
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "debug logging");
  catdog::common::AddTrainConfigFlags(app, config);
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  catdog::common::ConfigureHostAllocator();

  auto trainer = catdog::common::Trainer::Create(config);
  if (!trainer.ok()) {
    std::fprintf(stderr, "catdog-train: %s\n", std::string(trainer.status().message()).c_str());
    return 2;
  }
  PrintingObserver observer;
  std::signal(SIGINT, RequestStop);
  std::signal(SIGTERM, RequestStop);
  auto result = (*trainer)->Run(&observer, &g_stop);
  if (absl::IsCancelled(result.status())) {
    std::fprintf(stderr, "catdog-train: stopped; continue with the same command and --resume\n");
    return 130;
  }
  if (!result.ok()) {
    std::fprintf(stderr, "catdog-train: %s\n", std::string(result.status().message()).c_str());
    return 1;
  }
  std::printf("best epoch %lld (valid accuracy %.4f)%s; checkpoints: %s %s\n",
              static_cast<long long>(result->best_epoch), result->best_valid_accuracy,
              result->early_stopped ? ", stopped early" : "", result->best_checkpoint.c_str(),
              result->last_checkpoint.c_str());
  if (result->skipped_files > 0) {
    std::printf("skipped %lld undecodable files\n", static_cast<long long>(result->skipped_files));
  }
  return 0;
}
