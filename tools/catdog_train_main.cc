// catdog-train: runs one training job in this process, without a server.
// For experiments, benchmarks and debugging the core; catdogd runs the same
// trainer for real jobs.
//
// Data parallel when started as torchrun starts workers (WORLD_SIZE > 1,
// RANK, MASTER_ADDR, MASTER_PORT; e.g. `torchrun --nproc-per-node 2
// --no-python catdog-train ...`): one process per rank, rank 0 writes --out
// and prints the epochs (README "Scale out"). Or with --nproc-per-node N
// (no environment): this process is rank 0 and starts the others itself.
#include <csignal>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "absl/strings/str_format.h"
#include "common/data/train_flags.h"
#include "common/ml/device.h"
#include "common/ml/distributed.h"
#include "common/ml/rank_processes.h"
#include "common/ml/trainer.h"

namespace {

class PrintingObserver : public catdog::common::TrainingObserver {
 public:
  explicit PrintingObserver(std::vector<std::string> classes) : classes_(std::move(classes)) {}
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
    std::string recalls;
    for (size_t k = 0; k < m.recall.size() && k < classes_.size(); ++k) {
      recalls += absl::StrFormat(" %s %.4f", classes_[k], m.recall[k]);
    }
    std::printf("test (%s weights): loss %.4f accuracy %.4f on %lld images; recall%s\n",
                catdog::common::CheckpointKindName(kind), m.loss, m.accuracy,
                static_cast<long long>(m.count), recalls.c_str());
  }

 private:
  const std::vector<std::string> classes_;
  bool header_printed_ = false;
};

catdog::common::StopToken g_stop;

// SIGINT / SIGTERM: stop at the next batch, keeping what the checkpoints
// hold (a lock-free atomic store is safe in a signal handler).
void RequestStop(int) { g_stop.RequestStop(); }

}  // namespace

int main(int argc, char** argv) {
  // Rank 1..N-1 of --nproc-per-node: this binary started again by rank 0.
  if (catdog::common::IsChildRankInvocation(argc, argv)) return catdog::common::RunChildRank();
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
  double dist_timeout_s = 600;
  app.add_option("--dist-timeout-s", dist_timeout_s,
                 "data parallel: how long ranks wait for each other (rendezvous, each allreduce) before failing")
      ->capture_default_str()->check(CLI::Range(1.0, 86400.0));
  catdog::common::AddTrainConfigFlags(app, config);
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  catdog::common::ConfigureHostAllocator();

  auto world = catdog::common::WorldFromEnvironment();
  if (!world.ok()) {
    std::fprintf(stderr, "catdog-train: %s\n", std::string(world.status().message()).c_str());
    return 2;
  }
  auto trainer = catdog::common::Trainer::Create(config);
  if (!trainer.ok()) {
    std::fprintf(stderr, "catdog-train: %s\n", std::string(trainer.status().message()).c_str());
    return 2;
  }
  std::unique_ptr<catdog::common::ProcessGroup> group;
  if (world->has_value()) {
    const catdog::common::WorldInfo& w = **world;
    spdlog::set_pattern(absl::StrFormat("[%%Y-%%m-%%d %%H:%%M:%%S.%%e] [rank %d] [%%l] %%v", w.rank));
    auto joined = catdog::common::ProcessGroup::Join(w, absl::Seconds(dist_timeout_s));
    if (!joined.ok()) {
      std::fprintf(stderr, "catdog-train: %s\n", std::string(joined.status().message()).c_str());
      return 1;
    }
    group = *std::move(joined);
    spdlog::info("rank {} of {} joined at {}:{}", w.rank, w.world_size, w.master_addr, w.master_port);
    (*trainer)->set_process_group(group.get());
  }
  PrintingObserver observer((*trainer)->class_names());
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
  if (group != nullptr && group->rank() != 0) return 0;  // rank 0 reports
  std::printf("best epoch %lld (valid accuracy %.4f)%s; checkpoints: %s %s\n",
              static_cast<long long>(result->best_epoch), result->best_valid_accuracy,
              result->early_stopped ? ", stopped early" : "", result->best_checkpoint.c_str(),
              result->last_checkpoint.c_str());
  if (result->skipped_files > 0) {
    std::printf("skipped %lld undecodable files\n", static_cast<long long>(result->skipped_files));
  }
  return 0;
}
