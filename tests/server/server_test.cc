// Service tests: a real catdogd Server in-process on an OS-chosen loopback
// port, driven through CatdogClient.
#include "server/server.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <grpcpp/create_channel.h>
#include <grpcpp/impl/codegen/client_unary_call.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "client/catdog_client.h"
#include "common/ml/checkpoint.h"
#include "common/ml/rank_processes.h"
#include "tests/support/random_checkpoint.h"
#include "tests/support/test_data.h"

namespace catdog::server {
namespace {

using catdog::client::CatdogClient;
using catdog::testing::TempDir;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    catdog::testing::WriteSyntheticDataset(dir_.Sub("data/synth"), 40, 32);
    catdog::testing::WriteSyntheticDataset(dir_.Sub("data/synth_test"), 10, 32, /*seed=*/7);
    std::filesystem::create_directories(dir_.Sub("data/empty/cat"));
    std::filesystem::create_directories(dir_.Sub("data/empty/dog"));
    std::filesystem::create_directories(dir_.Sub("outside/cat"));
  }

  ServerOptions Options() const {
    ServerOptions o;
    o.listen_address = "127.0.0.1:0";
    o.data_root = dir_.Sub("data");
    o.state_dir = dir_.Sub("state");
    o.threads = 2;
    o.max_batch_size = 8;
    o.max_queue_delay = absl::Milliseconds(5);
    return o;
  }

  void TrainsServesAndCancelsWithTwoRanks(const std::function<void(v1::TrainingConfig&)>& set_ranks);

  void StartServer(const ServerOptions& options, ServerHooks hooks = {}) {
    auto server = Server::Create(options, std::move(hooks));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
    client_ = CatdogClient::Connect(server_->address());
  }

  static v1::TrainingConfig TinyConfig() {
    v1::TrainingConfig c;
    c.set_dataset("synth");
    c.set_image_size(32);
    c.set_width(0.125);
    c.set_batch_size(8);
    c.set_epochs(5);
    c.set_learning_rate(3e-3);
    c.set_threads(2);
    c.set_progress_interval(1);
    return c;
  }

  // Watches a job to its end; returns all events.
  std::vector<v1::JobEvent> WatchToEnd(const std::string& job_id, CatdogClient* client = nullptr) {
    std::vector<v1::JobEvent> events;
    const absl::Status s = (client ? client : client_.get())->WatchJob(job_id, [&](const v1::JobEvent& e) {
      events.push_back(e);
    });
    EXPECT_TRUE(s.ok()) << s;
    return events;
  }

  static std::vector<int64_t> Epochs(const std::vector<v1::JobEvent>& events) {
    std::vector<int64_t> epochs;
    for (const auto& e : events)
      if (e.has_epoch()) epochs.push_back(e.epoch().epoch());
    return epochs;
  }

  static v1::JobState FinalState(const std::vector<v1::JobEvent>& events) {
    for (auto it = events.rbegin(); it != events.rend(); ++it)
      if (it->has_state()) return it->state().state();
    return v1::JOB_STATE_UNSPECIFIED;
  }

  // Trains TinyConfig to SUCCEEDED; returns the job id.
  std::string TrainJob() {
    auto job = client_->StartTraining(TinyConfig());
    EXPECT_TRUE(job.ok()) << job.status();
    if (!job.ok()) return "";
    EXPECT_EQ(FinalState(WatchToEnd(job->id())), v1::SUCCEEDED);
    return job->id();
  }

  v1::ClassifyRequest Images(int per_class, unsigned seed) const {
    v1::ClassifyRequest request;
    for (int label = 0; label < 2; ++label) {
      for (int i = 0; i < per_class; ++i) {
        v1::Image* image = request.add_images();
        image->set_data(catdog::testing::EncodePng(catdog::testing::SyntheticImage(label, 32, seed + i * 2 + label)));
        image->set_id(label == 0 ? "cat" : "dog");
      }
    }
    return request;
  }

  // A random-weights checkpoint, for tests that need a model but no training.
  std::string RandomCheckpoint(const std::string& name) {
    const std::string path = dir_.Sub(name);
    catdog::testing::WriteRandomCheckpoint(path);
    return path;
  }

  TempDir dir_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<CatdogClient> client_;
};

TEST_F(ServerTest, TrainsToSucceededAutoPromotesAndClassifiesCorrectly) {
  StartServer(Options());
  auto job = client_->StartTraining(TinyConfig());
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::QUEUED);
  EXPECT_EQ(job->train_images(), 64);
  const auto events = WatchToEnd(job->id());
  EXPECT_EQ(Epochs(events), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(FinalState(events), v1::SUCCEEDED);
  int64_t previous = 0;
  for (const auto& e : events) {
    EXPECT_EQ(e.sequence(), previous + 1);
    previous = e.sequence();
  }

  auto serving = client_->GetServingModel();
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(serving->id(), job->id() + "/best");

  auto response = client_->Classify(Images(10, 500));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->model_id(), job->id() + "/best");
  int correct = 0;
  for (const auto& r : response->results()) {
    EXPECT_TRUE(r.error().empty()) << r.error();
    ASSERT_EQ(r.probabilities_size(), 2);
    EXPECT_NEAR(r.probabilities(0) + r.probabilities(1), 1.0f, 1e-5);
    correct += r.label() == r.id();
  }
  EXPECT_GE(correct, 18) << "of 20";

  auto models = client_->ListModels(job->id());
  ASSERT_TRUE(models.ok());
  std::set<std::string> ids;
  for (const auto& m : models->models()) ids.insert(m.id());
  EXPECT_EQ(ids, (std::set<std::string>{job->id() + "/best", job->id() + "/last"}));
}

TEST_F(ServerTest, GetJobWithHistoryGivesEveryEpochInOrder) {
  StartServer(Options());
  const std::string job = TrainJob();
  auto plain = client_->GetJob(job);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->history_size(), 0);  // only when asked
  auto full = client_->GetJob(job, /*with_history=*/true);
  ASSERT_TRUE(full.ok()) << full.status();
  ASSERT_EQ(full->history_size(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(full->history(i).epoch(), i + 1);
  EXPECT_GT(full->history(0).train_loss(), 0);
}

TEST_F(ServerTest, TwoWatchersOneLateEachSeeEveryEpochOnceInOrder) {
  StartServer(Options());
  auto job = client_->StartTraining(TinyConfig());
  ASSERT_TRUE(job.ok());
  absl::Notification second_epoch;
  std::vector<int64_t> early;
  std::thread first([&] {
    const absl::Status s = client_->WatchJob(job->id(), [&](const v1::JobEvent& e) {
      if (!e.has_epoch()) return;
      early.push_back(e.epoch().epoch());
      if (e.epoch().epoch() == 2) second_epoch.Notify();
    });
    EXPECT_TRUE(s.ok()) << s;
  });
  second_epoch.WaitForNotification();
  auto late_client = CatdogClient::Connect(server_->address());
  const auto late = Epochs(WatchToEnd(job->id(), late_client.get()));
  first.join();
  EXPECT_EQ(early, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(late, (std::vector<int64_t>{1, 2, 3, 4, 5}));
}

TEST_F(ServerTest, CancelsQueuedAndRunningJobs) {
  StartServer(Options());  // one job at a time
  v1::TrainingConfig long_config = TinyConfig();
  long_config.set_epochs(1000);
  auto running = client_->StartTraining(long_config);
  auto queued = client_->StartTraining(TinyConfig());
  ASSERT_TRUE(running.ok() && queued.ok());

  auto cancelled = client_->CancelJob(queued->id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::CANCELLED);

  // Cancel the running job from inside its watch, once it is training.
  bool cancel_sent = false;
  std::vector<v1::JobEvent> events;
  const absl::Status s = client_->WatchJob(running->id(), [&](const v1::JobEvent& e) {
    events.push_back(e);
    if (e.has_progress() && !cancel_sent) {
      cancel_sent = true;
      EXPECT_TRUE(client_->CancelJob(running->id()).ok());
    }
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(FinalState(events), v1::CANCELLED);
  auto job = client_->GetJob(running->id());
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::CANCELLED);
  EXPECT_LT(job->epochs_completed(), 1000);
  EXPECT_EQ(client_->CancelJob(running->id()).status().code(), absl::StatusCode::kFailedPrecondition);
}

// A job split over two ranks by catdogd (`set_ranks`: threads or child
// processes): each epoch reported once, the model served, and a cancel that
// ends both ranks (no hang in a collective).
void ServerTest::TrainsServesAndCancelsWithTwoRanks(const std::function<void(v1::TrainingConfig&)>& set_ranks) {
  StartServer(Options());
  v1::TrainingConfig config = TinyConfig();
  set_ranks(config);
  config.set_epochs(2);
  auto job = client_->StartTraining(config);
  ASSERT_TRUE(job.ok()) << job.status();
  const auto events = WatchToEnd(job->id());
  EXPECT_EQ(Epochs(events), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(FinalState(events), v1::SUCCEEDED);
  auto response = client_->Classify(Images(2, 500));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->model_id(), job->id() + "/best");

  config.set_batch_size(9);  // does not split into two ranks
  EXPECT_EQ(client_->StartTraining(config).status().code(), absl::StatusCode::kInvalidArgument);

  config.set_batch_size(8);
  config.set_epochs(1000);
  auto running = client_->StartTraining(config);
  ASSERT_TRUE(running.ok()) << running.status();
  bool cancel_sent = false;
  std::vector<v1::JobEvent> watched;
  ASSERT_TRUE(client_
                  ->WatchJob(running->id(),
                             [&](const v1::JobEvent& e) {
                               watched.push_back(e);
                               if (e.has_progress() && !cancel_sent) {
                                 cancel_sent = true;
                                 EXPECT_TRUE(client_->CancelJob(running->id()).ok());
                               }
                             })
                  .ok());
  EXPECT_EQ(FinalState(watched), v1::CANCELLED);
}

TEST_F(ServerTest, JobWithTwoWorkersTrainsServesAndCancels) {
  TrainsServesAndCancelsWithTwoRanks([](v1::TrainingConfig& c) { c.set_workers(2); });
}

// The ranks as processes: rank 1 is a child (catdog-train here; catdogd
// starts itself again).
TEST_F(ServerTest, JobWithTwoProcessesTrainsServesAndCancels) {
  common::SetRankProgram(CATDOG_TRAIN_BINARY);
  TrainsServesAndCancelsWithTwoRanks([](v1::TrainingConfig& c) { c.set_nproc_per_node(2); });
}

TEST_F(ServerTest, FullJobQueueIsResourceExhausted) {
  ServerOptions o = Options();
  o.max_queued_jobs = 1;
  StartServer(o);
  v1::TrainingConfig long_config = TinyConfig();
  long_config.set_epochs(1000);
  auto running = client_->StartTraining(long_config);
  ASSERT_TRUE(running.ok());
  bool checked = false;
  const absl::Status s = client_->WatchJob(running->id(), [&](const v1::JobEvent& e) {
    if (checked || !e.has_state() || e.state().state() != v1::RUNNING) return;
    checked = true;  // the worker holds the first job; the queue is empty
    auto queued = client_->StartTraining(TinyConfig());
    ASSERT_TRUE(queued.ok()) << queued.status();
    auto refused = client_->StartTraining(TinyConfig());
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
    EXPECT_TRUE(client_->CancelJob(queued->id()).ok());
    EXPECT_TRUE(client_->CancelJob(running->id()).ok());
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(checked);
}

TEST_F(ServerTest, ConcurrentCallersAreBatchedTogether) {
  ServerOptions o = Options();
  o.serve_checkpoint = RandomCheckpoint("random.ckpt");
  o.max_queue_delay = absl::Milliseconds(200);
  StartServer(o);
  const v1::ClassifyRequest one = [&] {
    v1::ClassifyRequest r = Images(1, 1);
    r.mutable_images()->RemoveLast();
    return r;
  }();
  std::vector<std::thread> callers;
  std::atomic<int> failures{0};
  for (int i = 0; i < 32; ++i) {
    callers.emplace_back([&] {
      if (!client_->Classify(one).ok()) ++failures;
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto stats = client_->GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->classify_requests(), 32);
  EXPECT_EQ(stats->images(), 32);
  EXPECT_LT(stats->batches(), 32);
  int largest = 0;
  for (const auto& b : stats->batch_sizes()) largest = std::max(largest, b.batch_size());
  EXPECT_GT(largest, 1);
  EXPECT_LE(largest, 8);
}

TEST_F(ServerTest, SwappingModelsDuringClassificationFailsNoRequest) {
  StartServer(Options());
  const std::string job = TrainJob();
  std::atomic<bool> done{false};
  std::atomic<int> failures{0}, requests{0};
  std::set<std::string> seen;
  absl::Mutex seen_mu;
  std::vector<std::thread> callers;
  const v1::ClassifyRequest request = Images(2, 9);
  for (int i = 0; i < 6; ++i) {
    callers.emplace_back([&] {
      while (!done.load()) {
        auto r = client_->Classify(request);
        ++requests;
        if (!r.ok()) {
          ++failures;
          continue;
        }
        for (const auto& result : r->results()) {
          if (!result.error().empty()) ++failures;
        }
        absl::MutexLock lock(&seen_mu);
        seen.insert(r->model_id());
      }
    });
  }
  for (int i = 0; i < 10; ++i) {
    const std::string id = job + (i % 2 == 0 ? "/last" : "/best");
    auto promoted = client_->PromoteModel(id);
    ASSERT_TRUE(promoted.ok()) << promoted.status();
    EXPECT_EQ(promoted->id(), id);
  }
  done = true;
  for (auto& t : callers) t.join();
  EXPECT_EQ(failures.load(), 0) << "of " << requests.load();
  for (const std::string& id : seen) {
    EXPECT_TRUE(id == job + "/best" || id == job + "/last") << id;
  }
}

TEST_F(ServerTest, CorruptImageFailsOnlyItself) {
  ServerOptions o = Options();
  o.serve_checkpoint = RandomCheckpoint("random.ckpt");
  StartServer(o);
  v1::ClassifyRequest request = Images(1, 3);
  v1::Image* bad = request.add_images();
  bad->set_data("this is not an image");
  bad->set_id("bad");
  auto response = client_->Classify(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->results_size(), 3);
  EXPECT_TRUE(response->results(0).error().empty());
  EXPECT_TRUE(response->results(1).error().empty());
  EXPECT_EQ(response->results(2).id(), "bad");
  EXPECT_NE(response->results(2).error(), "");
  EXPECT_FALSE(response->results(0).label().empty());
}

TEST_F(ServerTest, UnparsableClassifyBytesAreInvalidArgumentSayingSo) {
  ServerOptions o = Options();
  o.serve_checkpoint = RandomCheckpoint("random.ckpt");
  StartServer(o);
  auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  const grpc::internal::RpcMethod method("/catdog.v1.InferenceService/Classify",
                                         grpc::internal::RpcMethod::NORMAL_RPC);
  for (const std::string& garbage : {std::string("\xff\xff\xff\xff", 4), std::string(3, '\0')}) {
    grpc::Slice slice(garbage);
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::ClientContext context;
    const grpc::Status status = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
        channel.get(), method, &context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("not a catdog.v1.ClassifyRequest"), std::string::npos)
        << status.error_message();
  }
  {  // Other methods of the generic handler do not exist.
    const grpc::internal::RpcMethod nope("/catdog.v1.InferenceService/Nope", grpc::internal::RpcMethod::NORMAL_RPC);
    grpc::Slice slice(std::string("x"));
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::ClientContext context;
    EXPECT_EQ((grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(channel.get(), nope, &context,
                                                                                      request, &response))
                  .error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }
  // Well-formed requests still work through the generic handler.
  auto response = client_->Classify(Images(1, 2));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->results_size(), 2);
}

TEST_F(ServerTest, RefusesBadRequestsWithTheRightCodes) {
  ServerOptions o = Options();
  o.max_images_per_request = 2;
  StartServer(o);
  auto code = [](const auto& result) { return result.status().code(); };
  v1::TrainingConfig c = TinyConfig();

  EXPECT_EQ(code(client_->Classify(Images(1, 1))), absl::StatusCode::kFailedPrecondition);
  c.set_dataset("missing");
  EXPECT_EQ(code(client_->StartTraining(c)), absl::StatusCode::kNotFound);
  c.set_dataset("../outside");
  EXPECT_EQ(code(client_->StartTraining(c)), absl::StatusCode::kPermissionDenied);
  c.set_dataset(dir_.Sub("outside"));
  EXPECT_EQ(code(client_->StartTraining(c)), absl::StatusCode::kPermissionDenied);
  c.set_dataset("empty");
  EXPECT_EQ(code(client_->StartTraining(c)), absl::StatusCode::kInvalidArgument);
  c = TinyConfig();
  c.set_batch_size(1);
  auto bad = client_->StartTraining(c);
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("batch_size"), std::string::npos);
  c = TinyConfig();
  c.set_learning_rate(-1);
  EXPECT_EQ(code(client_->StartTraining(c)), absl::StatusCode::kInvalidArgument);
  c.clear_dataset();
  EXPECT_EQ(code(client_->StartTraining(c)), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(client_->GetJob("job-999")), absl::StatusCode::kNotFound);
  EXPECT_EQ(code(client_->PromoteModel("job-999/best")), absl::StatusCode::kNotFound);
  EXPECT_EQ(code(client_->PromoteModel("nonsense")), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(client_->PromoteModel("file:/etc/passwd")), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(client_->GetServingModel()), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(code(client_->Classify(Images(2, 1))), absl::StatusCode::kInvalidArgument);  // 4 > 2
  EXPECT_EQ(code(client_->Classify(v1::ClassifyRequest())), absl::StatusCode::kInvalidArgument);
}

TEST_F(ServerTest, RestartKeepsJobsMetricsAndServingModel) {
  StartServer(Options());
  const std::string job = TrainJob();
  server_->Shutdown();
  server_.reset();

  StartServer(Options());
  auto jobs = client_->ListJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->jobs_size(), 1);
  EXPECT_EQ(jobs->jobs(0).id(), job);
  EXPECT_EQ(jobs->jobs(0).state(), v1::SUCCEEDED);
  EXPECT_EQ(jobs->jobs(0).epochs_completed(), 5);
  const auto events = WatchToEnd(job);
  EXPECT_EQ(Epochs(events), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(FinalState(events), v1::SUCCEEDED);
  auto serving = client_->GetServingModel();
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(serving->id(), job + "/best");
  EXPECT_TRUE(client_->Classify(Images(1, 2)).ok());
  // New jobs continue the numbering.
  auto next = client_->StartTraining(TinyConfig());
  ASSERT_TRUE(next.ok());
  EXPECT_NE(next->id(), job);
  EXPECT_TRUE(client_->CancelJob(next->id()).ok());
}

TEST_F(ServerTest, ShutdownInterruptsRunningJobAndRestartReportsIt) {
  StartServer(Options());
  v1::TrainingConfig long_config = TinyConfig();
  long_config.set_epochs(1000);
  auto job = client_->StartTraining(long_config);
  ASSERT_TRUE(job.ok());
  std::vector<v1::JobEvent> events;
  std::thread stopper;  // Shutdown blocks until the watch ends: not on this thread
  const absl::Status watched = client_->WatchJob(job->id(), [&](const v1::JobEvent& e) {
    events.push_back(e);
    if (e.has_epoch() && e.epoch().epoch() == 1 && !stopper.joinable()) {
      stopper = std::thread([s = server_.get()] { s->Shutdown(); });
    }
  });
  ASSERT_TRUE(stopper.joinable());
  stopper.join();
  EXPECT_TRUE(watched.ok()) << watched;
  EXPECT_EQ(FinalState(events), v1::INTERRUPTED);
  server_->Wait();
  server_.reset();

  StartServer(Options());
  auto restored = client_->GetJob(job->id());
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->state(), v1::INTERRUPTED);
  EXPECT_GE(restored->epochs_completed(), 1);
  auto models = client_->ListModels(job->id());
  ASSERT_TRUE(models.ok());
  EXPECT_GT(models->models_size(), 0);  // epoch 1's checkpoints survive
}

TEST_F(ServerTest, SecondServerOnTheSameStateDirIsRefused) {
  StartServer(Options());
  auto second = Server::Create(Options());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("another catdogd"), std::string::npos) << second.status();
  server_.reset();  // releases the state dir
  EXPECT_TRUE(Server::Create(Options()).ok());
}

TEST_F(ServerTest, SecondServerOnATakenPortIsRefused) {
  StartServer(Options());
  ServerOptions o = Options();
  o.state_dir = dir_.Sub("state2");
  o.listen_address = server_->address();
  auto second = Server::Create(o);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_NE(second.status().message().find("cannot listen on"), std::string::npos) << second.status();
  EXPECT_TRUE(client_->GetStats().ok());  // the first one still answers
}

TEST_F(ServerTest, ReducedServingPrecisionWithoutCudaIsRefusedAtStart) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is present";
  ServerOptions o = Options();
  o.device = "cpu";
  o.serving_precision = common::Precision::kFp16;
  auto server = Server::Create(o);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(server.status().message().find("--serving-precision fp16"), std::string::npos)
      << server.status();
}

// Threads of this process, from the kernel.
int ThreadCount() {
  std::ifstream status("/proc/self/status");
  std::string line;
  int threads = -1;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) {
      EXPECT_TRUE(absl::SimpleAtoi(line.substr(8), &threads));
    }
  }
  return threads;
}

// The callback API: a Classify waiting for its batch holds no thread, so
// hundreds of them neither pile up threads nor starve a training watch.
TEST_F(ServerTest, PendingClassifyCallsHoldNoThreadAndDoNotStarveWatchers) {
  constexpr int kCalls = 256;
  absl::Notification release;
  // A failed assertion must not leave the forward pass (and shutdown) waiting.
  absl::Cleanup release_at_exit = [&release] {
    if (!release.HasBeenNotified()) release.Notify();
  };
  ServerHooks hooks;
  hooks.predict = [&release](const ServingModel&, const std::vector<cv::Mat>& images)
      -> absl::StatusOr<std::vector<common::Prediction>> {
    release.WaitForNotification();  // every forward pass waits for the test
    return std::vector<common::Prediction>(images.size(), common::Prediction{0, {0.5f, 0.5f}});
  };
  ServerOptions o = Options();
  o.serve_checkpoint = RandomCheckpoint("random.ckpt");
  StartServer(o, std::move(hooks));
  ASSERT_TRUE(client_->GetStats().ok());  // the channel is up
  const int threads_before = ThreadCount();

  auto stub = v1::InferenceService::NewStub(
      grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  const v1::ClassifyRequest request = [&] {
    v1::ClassifyRequest r = Images(1, 1);
    r.mutable_images()->RemoveLast();
    return r;
  }();
  struct Call {
    grpc::ClientContext context;
    v1::ClassifyResponse response;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Call>> calls;
  absl::BlockingCounter finished(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(std::make_unique<Call>());
    Call* call = calls.back().get();
    stub->async()->Classify(&call->context, &request, &call->response, [call, &finished](grpc::Status s) {
      call->status = std::move(s);
      finished.DecrementCount();
    });
  }
  // Every call is inside the server (counted by it) and none can finish.
  while (true) {
    auto stats = client_->GetStats();
    ASSERT_TRUE(stats.ok()) << stats.status();
    if (stats->classify_requests() >= kCalls) break;
  }
  EXPECT_LT(ThreadCount() - threads_before, 64) << "threads held by " << kCalls << " pending calls";

  // A training job runs and its watcher sees every epoch meanwhile.
  v1::TrainingConfig config = TinyConfig();
  config.set_epochs(2);
  config.set_auto_promote(false);
  auto job = client_->StartTraining(config);
  ASSERT_TRUE(job.ok()) << job.status();
  const auto events = WatchToEnd(job->id());
  EXPECT_EQ(Epochs(events), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(FinalState(events), v1::SUCCEEDED);

  release.Notify();
  finished.Wait();
  for (const auto& call : calls) EXPECT_TRUE(call->status.ok()) << call->status.error_message();
}

TEST_F(ServerTest, InferenceHealthFollowsTheServingModel) {
  using Health = grpc::health::v1::HealthCheckResponse;
  const std::string inference = v1::InferenceService::service_full_name();
  StartServer(Options());
  EXPECT_EQ(*client_->Health(), Health::SERVING);  // the process is up
  EXPECT_EQ(*client_->Health(inference), Health::NOT_SERVING);  // nothing to serve yet
  TrainJob();  // auto-promotes its best checkpoint
  EXPECT_EQ(*client_->Health(inference), Health::SERVING);
  EXPECT_EQ(client_->Health("no.such.Service").status().code(), absl::StatusCode::kNotFound);
}

// Truncates a checkpoint as a bad disk or an interrupted copy would.
void Damage(const std::string& path) { std::filesystem::resize_file(path, 100); }

TEST_F(ServerTest, RestartFallsBackToTheNewestPromotionThatStillLoads) {
  using Health = grpc::health::v1::HealthCheckResponse;
  const std::string inference = v1::InferenceService::service_full_name();
  StartServer(Options());
  const std::string job = TrainJob();  // promotes JOB/best
  auto last = client_->PromoteModel(job + "/last");
  ASSERT_TRUE(last.ok()) << last.status();
  server_.reset();

  EXPECT_EQ(last->path(), "jobs/" + job + "/last.ckpt");  // no server path in replies
  Damage(dir_.Sub("state/" + last->path()));
  StartServer(Options());
  auto serving = client_->GetServingModel();
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(serving->id(), job + "/best");
  EXPECT_EQ(*client_->Health(inference), Health::SERVING);
  EXPECT_TRUE(client_->Classify(Images(1, 2)).ok());
  const std::string best_path = serving->path();
  server_.reset();

  Damage(dir_.Sub("state/" + best_path));
  StartServer(Options());  // starts all the same: jobs and history are there
  EXPECT_EQ(client_->GetServingModel().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*client_->Health(inference), Health::NOT_SERVING);
  EXPECT_EQ(*client_->Health(), Health::SERVING);
  EXPECT_EQ(client_->ListJobs()->jobs_size(), 1);
}

// Scale out: serving replicas (--serve-only) following a trainer's --publish-dir.

ServerOptions ReplicaOptions(const std::string& model) {
  ServerOptions o;
  o.listen_address = "127.0.0.1:0";
  o.serve_only = true;
  o.model = model;
  o.model_poll_interval = absl::Milliseconds(10);
  o.threads = 2;
  o.max_batch_size = 8;
  return o;
}

// Waits (polling, at most 30 s) until `done` holds.
bool Eventually(const std::function<bool()>& done) {
  for (const absl::Time until = absl::Now() + absl::Seconds(30); absl::Now() < until; absl::SleepFor(absl::Milliseconds(5))) {
    if (done()) return true;
  }
  return done();
}

TEST_F(ServerTest, ServeOnlyOptionsAreChecked) {
  ServerOptions o = ReplicaOptions("");
  EXPECT_EQ(Server::Create(o).status().code(), absl::StatusCode::kInvalidArgument);  // no --model
  o = ReplicaOptions(dir_.Sub("models"));
  o.state_dir = dir_.Sub("state");
  auto with_state = Server::Create(o);
  EXPECT_EQ(with_state.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(with_state.status().message().find("keeps no state"), std::string::npos) << with_state.status();
  o = Options();
  o.model = dir_.Sub("models");  // --model without --serve-only
  EXPECT_EQ(Server::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ServerTest, ReplicaServesWhatTheTrainerPublishesAndFollowsItWithoutFailedRequests) {
  ServerOptions trainer = Options();
  trainer.serve_checkpoint = RandomCheckpoint("random.ckpt");
  trainer.publish_dir = dir_.Sub("published");
  StartServer(trainer);
  ASSERT_TRUE(std::filesystem::is_regular_file(dir_.Sub("published/serving.ckpt")));

  auto replica = Server::Create(ReplicaOptions(dir_.Sub("published")));
  ASSERT_TRUE(replica.ok()) << replica.status();
  auto rc = CatdogClient::Connect((*replica)->address());
  auto served = rc->GetServingModel();
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->id(), "file:serving.ckpt");  // no server path in replies
  EXPECT_EQ(served->epoch(), 0);                 // the random model
  EXPECT_EQ(rc->ListModels()->models_size(), 1);
  // A replica trains, promotes, imports and evaluates nothing.
  EXPECT_EQ(rc->StartTraining(TinyConfig()).status().code(), absl::StatusCode::kUnimplemented);
  auto promote = rc->PromoteModel("job-1/best");
  EXPECT_EQ(promote.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(promote.status().message().find("serving replica"), std::string::npos) << promote.status();
  EXPECT_TRUE(rc->GetStats().ok());

  std::atomic<bool> done{false};
  std::atomic<int> failures{0}, requests{0};
  std::vector<std::thread> callers;
  const v1::ClassifyRequest request = Images(1, 3);
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&] {
      while (!done.load()) {
        auto r = rc->Classify(request);
        ++requests;
        if (!r.ok()) {
          ++failures;
          ADD_FAILURE() << r.status();
        }
      }
    });
  }
  const std::string job = TrainJob();
  ASSERT_TRUE(client_->PromoteModel(job + "/best").ok());  // the trainer publishes it
  EXPECT_TRUE(Eventually([&] {
    auto m = rc->GetServingModel();
    return m.ok() && m->epoch() > 0;
  }));
  done = true;
  for (std::thread& t : callers) t.join();
  EXPECT_GT(requests.load(), 0);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(rc->GetServingModel()->epoch(), client_->GetServingModel()->epoch());
}

TEST_F(ServerTest, ReplicaWithNothingToServeIsNotServingUntilACheckpointLoads) {
  using Health = grpc::health::v1::HealthCheckResponse;
  const std::string inference = v1::InferenceService::service_full_name();
  std::filesystem::create_directories(dir_.Sub("models"));
  auto replica = Server::Create(ReplicaOptions(dir_.Sub("models")));
  ASSERT_TRUE(replica.ok()) << replica.status();
  auto rc = CatdogClient::Connect((*replica)->address());
  EXPECT_EQ(*rc->Health(), Health::SERVING);
  EXPECT_EQ(*rc->Health(inference), Health::NOT_SERVING);
  EXPECT_EQ(rc->Classify(Images(1, 1)).status().code(), absl::StatusCode::kFailedPrecondition);
  std::ofstream(dir_.Sub("models/garbage.ckpt")) << "not a checkpoint";
  catdog::testing::WriteRandomCheckpoint(dir_.Sub("models/.good.tmp"));
  std::filesystem::last_write_time(dir_.Sub("models/.good.tmp"),
                                   std::filesystem::last_write_time(dir_.Sub("models/garbage.ckpt")) + std::chrono::seconds(1));
  std::filesystem::rename(dir_.Sub("models/.good.tmp"), dir_.Sub("models/good.ckpt"));
  EXPECT_TRUE(Eventually([&] { return *rc->Health(inference) == Health::SERVING; }));
  EXPECT_TRUE(rc->Classify(Images(1, 1)).ok());
}

TEST_F(ServerTest, AClientOfManyReplicasSpreadsItsCallsOverThem) {
  const std::string model = RandomCheckpoint("random.ckpt");
  auto a = Server::Create(ReplicaOptions(model));
  auto b = Server::Create(ReplicaOptions(model));
  ASSERT_TRUE(a.ok() && b.ok());
  client::ConnectOptions both;
  both.target = absl::StrCat("ipv4:127.0.0.1:", (*a)->port(), ",127.0.0.1:", (*b)->port());
  auto rc = CatdogClient::Connect(both);
  ASSERT_TRUE(rc.ok()) << rc.status();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*rc)->Classify(Images(1, 1)).ok());
  const int64_t at_a = CatdogClient::Connect((*a)->address())->GetStats()->classify_requests();
  const int64_t at_b = CatdogClient::Connect((*b)->address())->GetStats()->classify_requests();
  EXPECT_EQ(at_a + at_b, 20);
  EXPECT_GE(at_a, 5);  // round robin: about half each
  EXPECT_GE(at_b, 5);
}

}  // namespace
}  // namespace catdog::server
