// The serving engine with a real (tiny, random) checkpoint for preprocessing
// and a fake forward pass, so each test controls when predictions arrive.
#include "server/serving/serving_engine.h"

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "common/ml/checkpoint.h"
#include "tests/support/test_data.h"

namespace catdog::server {
namespace {

class ServingEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    checkpoint_ = WriteCheckpoint("random.ckpt", 0.0);
    good_checkpoint_ = WriteCheckpoint("good.ckpt", 0.9);
    png_ = catdog::testing::EncodePng(catdog::testing::SyntheticImage(0, 32, 1));
  }

  void StartEngine(int max_pending_requests = 256) {
    ServingEngineOptions options;
    options.max_images_per_request = 4;
    options.max_pending_requests = max_pending_requests;
    options.preprocess_threads = 1;
    options.batcher.predict = [this](const ServingModel&, const std::vector<cv::Mat>& images)
        -> absl::StatusOr<std::vector<common::Prediction>> {
      ++forward_passes_;
      if (hold_ != nullptr) hold_->WaitForNotification();
      std::vector<common::Prediction> out;
      for (size_t i = 0; i < images.size(); ++i) out.push_back({1, {0.25f, 0.75f}});
      return out;
    };
    options.resolve = [this](const api::ModelId& id) -> absl::StatusOr<std::string> {
      if (id.job_id() == "job-1") return checkpoint_;
      return absl::NotFoundError("no checkpoint " + id.ToString());
    };
    options.record = [this](const api::ModelId& id, const std::string&) {
      if (refuse_record_) return absl::InternalError("disk full");
      recorded_.push_back(id.ToString());
      return absl::OkStatus();
    };
    auto engine = ServingEngine::Create(std::move(options));
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  // A random-weights model whose card says `valid_accuracy`.
  std::string WriteCheckpoint(const std::string& name, double valid_accuracy) {
    common::Vgg16 model(common::VggOptions{2, 0.125});
    common::ModelCard card;
    card.width = 0.125;
    card.class_names = {"cat", "dog"};
    card.preprocessing.image_size = 32;
    card.metrics.valid_accuracy = valid_accuracy;
    const std::string path = dir_.Sub(name);
    EXPECT_TRUE(common::SaveCheckpoint(path, card, model, nullptr).ok());
    return path;
  }

  // Classifies and waits for the answer.
  absl::StatusOr<common::ClassifyResult> Classify(std::vector<ImageInput> images, CallInfo call = {}) {
    absl::Notification done;
    absl::StatusOr<common::ClassifyResult> out = absl::UnknownError("not called");
    engine_->Classify(std::move(images), std::move(call), [&](absl::StatusOr<common::ClassifyResult> r) {
      out = std::move(r);
      done.Notify();
    });
    done.WaitForNotification();
    return out;
  }

  // Starts a one-image request whose answer must be OK; notifies `done` then.
  void ClassifyExpectingSuccess(absl::Notification* done) {
    engine_->Classify({{"a", png_}}, {}, [done](absl::StatusOr<common::ClassifyResult> r) {
      EXPECT_TRUE(r.ok()) << r.status();
      done->Notify();
    });
  }

  catdog::testing::TempDir dir_;
  std::string checkpoint_;       // validation accuracy 0 in its card
  std::string good_checkpoint_;  // 0.9
  std::string png_;
  absl::Notification* hold_ = nullptr;
  std::atomic<int> forward_passes_{0};
  bool refuse_record_ = false;
  std::vector<std::string> recorded_;
  std::unique_ptr<ServingEngine> engine_;
};

TEST_F(ServingEngineTest, ClassifiesInRequestOrderAndABadImageFailsOnlyItself) {
  StartEngine();
  ASSERT_TRUE(engine_->Promote(api::ModelId::File(checkpoint_)).ok());
  auto result = Classify({{"a", png_}, {"bad", "not an image"}, {"c", png_}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->model_id, "file:" + checkpoint_);
  EXPECT_EQ(result->class_names, (std::vector<std::string>{"cat", "dog"}));
  ASSERT_EQ(result->images.size(), 3u);
  EXPECT_EQ(result->images[0].id, "a");
  EXPECT_EQ(result->images[0].prediction.class_index, 1);
  EXPECT_EQ(result->images[1].id, "bad");
  EXPECT_FALSE(result->images[1].error.empty());
  EXPECT_EQ(result->images[2].prediction.probabilities, (std::vector<float>{0.25f, 0.75f}));
  EXPECT_EQ(engine_->Stats().images, 2);
  EXPECT_EQ(engine_->Stats().serving_model_id, "file:" + checkpoint_);
}

TEST_F(ServingEngineTest, DecompressionBombFailsAloneBeforeDecoding) {
  StartEngine();
  ASSERT_TRUE(engine_->Promote(api::ModelId::File(checkpoint_)).ok());
  const std::string bomb = catdog::testing::PngBomb(12000, 12000);  // 144 MP > 50 MP
  auto result = Classify({{"bomb", bomb}, {"a", png_}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NE(result->images[0].error.find("--max-image-pixels"), std::string::npos) << result->images[0].error;
  EXPECT_TRUE(result->images[1].error.empty());
  EXPECT_EQ(engine_->Stats().images, 1);
}

TEST_F(ServingEngineTest, NoModelIsOneFailedPreconditionEverywhere) {
  StartEngine();
  EXPECT_EQ(Classify({{"a", png_}}).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine_->CurrentOrError().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine_->Current(), nullptr);
}

TEST_F(ServingEngineTest, RefusesEmptyAndOversizedRequests) {
  StartEngine();
  ASSERT_TRUE(engine_->Promote(api::ModelId::File(checkpoint_)).ok());
  EXPECT_EQ(Classify({}).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<ImageInput> five(5, ImageInput{"x", png_});
  EXPECT_EQ(Classify(five).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ServingEngineTest, ClassifyReturnsBeforeThePredictionExists) {
  absl::Notification hold;
  hold_ = &hold;
  StartEngine();
  ASSERT_TRUE(engine_->Promote(api::ModelId::File(checkpoint_)).ok());
  absl::Notification done;
  ClassifyExpectingSuccess(&done);
  EXPECT_FALSE(done.HasBeenNotified());  // the forward pass is still held
  hold.Notify();
  done.WaitForNotification();
}

TEST_F(ServingEngineTest, RequestsBeyondThePendingBoundAreRefusedAtOnce) {
  StartEngine(/*max_pending_requests=*/1);
  ASSERT_TRUE(engine_->Promote(api::ModelId::File(checkpoint_)).ok());
  // The one preprocessing thread is held inside the first request (its
  // cancellation check waits), so the second waits in the queue.
  absl::Notification inside, release, first_done, second_done;
  CallInfo held;
  held.cancelled = [&] {
    if (!inside.HasBeenNotified()) inside.Notify();
    release.WaitForNotification();
    return false;
  };
  engine_->Classify({{"a", png_}}, held, [&](absl::StatusOr<common::ClassifyResult>) { first_done.Notify(); });
  inside.WaitForNotification();
  ClassifyExpectingSuccess(&second_done);
  EXPECT_EQ(Classify({{"c", png_}}).status().code(), absl::StatusCode::kResourceExhausted);
  release.Notify();
  first_done.WaitForNotification();
  second_done.WaitForNotification();
}

TEST_F(ServingEngineTest, CallerWhoLeftIsNeitherDecodedNorComputed) {
  StartEngine();
  ASSERT_TRUE(engine_->Promote(api::ModelId::File(checkpoint_)).ok());
  CallInfo gone;
  gone.cancelled = [] { return true; };
  EXPECT_EQ(Classify({{"a", png_}}, gone).status().code(), absl::StatusCode::kCancelled);
  CallInfo late;
  late.deadline = absl::InfinitePast();
  EXPECT_EQ(Classify({{"a", png_}}, late).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(forward_passes_.load(), 0);
}

TEST_F(ServingEngineTest, PromoteResolvesCheckpointsRecordsThemAndKeepsTheOldModelOnFailure) {
  StartEngine();
  auto promoted = engine_->Promote(api::ModelId::Checkpoint("job-1", "best"));
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ((*promoted)->path, checkpoint_);
  EXPECT_EQ(recorded_, (std::vector<std::string>{"job-1/best"}));
  EXPECT_EQ(engine_->Promote(api::ModelId::Checkpoint("job-9", "best")).status().code(),
            absl::StatusCode::kNotFound);
  refuse_record_ = true;
  EXPECT_EQ(engine_->Promote(api::ModelId::Checkpoint("job-1", "last")).status().code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(engine_->Current()->id, api::ModelId::Checkpoint("job-1", "best"));
}

TEST_F(ServingEngineTest, AutoPromoteServesOnlyABetterModelOrOneAboveTheFloor) {
  StartEngine();
  auto first = engine_->PromoteIfBetter(api::ModelId::Checkpoint("job-1", "best"), 0.5, 0);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_NE(first->find("nothing was being served"), std::string::npos) << *first;

  ASSERT_TRUE(engine_->Promote(api::ModelId::File(good_checkpoint_)).ok());  // 0.9
  auto worse = engine_->PromoteIfBetter(api::ModelId::Checkpoint("job-1", "best"), 0.5, 0);
  ASSERT_TRUE(worse.ok()) << worse.status();
  EXPECT_EQ(worse->rfind("not promoted", 0), 0u) << *worse;
  EXPECT_EQ(engine_->Current()->id, api::ModelId::File(good_checkpoint_));

  auto floor = engine_->PromoteIfBetter(api::ModelId::Checkpoint("job-1", "best"), 0.5, 0.4);
  ASSERT_TRUE(floor.ok()) << floor.status();
  EXPECT_NE(floor->find("--promote-min-accuracy"), std::string::npos) << *floor;
  EXPECT_EQ(engine_->Current()->id, api::ModelId::Checkpoint("job-1", "best"));
}

TEST_F(ServingEngineTest, ShutdownFinishesAcceptedRequestsAndRefusesNewOnes) {
  StartEngine();
  ASSERT_TRUE(engine_->Promote(api::ModelId::File(checkpoint_)).ok());
  absl::Notification done;
  ClassifyExpectingSuccess(&done);
  engine_->Shutdown();
  EXPECT_TRUE(done.HasBeenNotified());
  EXPECT_EQ(Classify({{"a", png_}}).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace catdog::server
