#include "common/ml/classifier.h"

#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include "common/ml/checkpoint.h"
#include "common/ml/tensor_conversion.h"
#include "tests/support/test_data.h"

namespace catdog::common {
namespace {

class ClassifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(1);
    model_ = Vgg16(VggOptions{2, 0.125});
    model_->eval();
    ModelCard card;
    card.width = 0.125;
    card.class_names = {"cat", "dog"};
    card.preprocessing.image_size = 32;
    path_ = dir_.Sub("m.ckpt");
    ASSERT_TRUE(SaveCheckpoint(path_, card, model_, nullptr).ok());
  }

  catdog::testing::TempDir dir_;
  Vgg16 model_{nullptr};
  std::string path_;
};

TEST_F(ClassifierTest, PredictsWhatTheSavedModelPredicts) {
  auto classifier = Classifier::Load(path_);
  ASSERT_TRUE(classifier.ok()) << classifier.status();
  EXPECT_EQ((*classifier)->image_size(), 32);
  std::vector<cv::Mat> images;
  for (int i = 0; i < 3; ++i) {
    auto img = (*classifier)->Preprocess(
        catdog::testing::EncodePng(catdog::testing::SyntheticImage(i % 2, 50, i)));
    ASSERT_TRUE(img.ok()) << img.status();
    EXPECT_EQ(img->size(), cv::Size(32, 32));
    images.push_back(*img);
  }
  auto predictions = (*classifier)->Predict(images);
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  ASSERT_EQ(predictions->size(), 3u);
  torch::NoGradGuard no_grad;
  auto expected = torch::softmax(model_->forward(ImagesToBatch(images, Preprocessing{32})), 1);
  for (int i = 0; i < 3; ++i) {
    const Prediction& p = (*predictions)[i];
    ASSERT_EQ(p.probabilities.size(), 2u);
    EXPECT_NEAR(p.probabilities[0] + p.probabilities[1], 1.0f, 1e-5);
    EXPECT_NEAR(p.probabilities[0], expected[i][0].item<float>(), 1e-6);
    EXPECT_EQ(p.class_index, expected[i].argmax().item<int64_t>());
  }
}

TEST_F(ClassifierTest, MirrorTestTimeAugmentationAveragesImageAndMirror) {
  ModelCard card;
  card.width = 0.125;
  card.class_names = {"cat", "dog"};
  card.preprocessing.image_size = 32;
  // A fresh model answers the same for every input once batch norm uses its
  // initial running statistics; a few batches in training mode give it
  // statistics under which its outputs depend on the image.
  {
    torch::NoGradGuard no_grad;
    model_->train();
    for (int i = 0; i < 20; ++i) model_->forward(torch::rand({8, 3, 32, 32}));
    model_->eval();
  }
  const std::string plain_path = dir_.Sub("plain.ckpt");
  ASSERT_TRUE(SaveCheckpoint(plain_path, card, model_, nullptr).ok());
  card.preprocessing.tta_flip = true;
  const std::string tta_path = dir_.Sub("tta.ckpt");
  ASSERT_TRUE(SaveCheckpoint(tta_path, card, model_, nullptr).ok());
  auto plain = Classifier::Load(plain_path);
  auto tta = Classifier::Load(tta_path);
  ASSERT_TRUE(plain.ok() && tta.ok());
  std::vector<cv::Mat> images, mirrors;
  for (int i = 0; i < 3; ++i) {
    auto img = (*tta)->Preprocess(catdog::testing::EncodePng(catdog::testing::SyntheticImage(i % 2, 50, i)));
    ASSERT_TRUE(img.ok());
    img->colRange(0, 10 + 5 * i).setTo(cv::Scalar(255, 255 * (i % 2), 0));  // lopsided, so mirrors differ
    images.push_back(*img);
    cv::Mat mirror;
    cv::flip(*img, mirror, 1);
    mirrors.push_back(mirror);
  }
  auto got = (*tta)->Predict(images);
  auto straight = (*plain)->Predict(images);
  auto mirrored = (*plain)->Predict(mirrors);
  ASSERT_TRUE(got.ok() && straight.ok() && mirrored.ok());
  bool differs = false;
  for (int i = 0; i < 3; ++i) {
    for (int k = 0; k < 2; ++k) {
      const float mean = ((*straight)[i].probabilities[k] + (*mirrored)[i].probabilities[k]) / 2;
      EXPECT_NEAR((*got)[i].probabilities[k], mean, 1e-5) << "image " << i;
      differs |= std::abs((*straight)[i].probabilities[k] - (*mirrored)[i].probabilities[k]) > 1e-6;
    }
  }
  EXPECT_TRUE(differs) << "the mirror images should give other probabilities, or the test shows nothing";
}

TEST_F(ClassifierTest, UndecodableBytesAreInvalidArgument) {
  auto classifier = Classifier::Load(path_);
  ASSERT_TRUE(classifier.ok());
  EXPECT_EQ((*classifier)->Preprocess("garbage").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ClassifierTest, WrongSizedInputIsInvalidArgument) {
  auto classifier = Classifier::Load(path_);
  ASSERT_TRUE(classifier.ok());
  std::vector<cv::Mat> images = {catdog::testing::SyntheticImage(0, 20, 1)};
  EXPECT_EQ((*classifier)->Predict(images).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ClassifierLoadTest, MissingCheckpointIsNotFound) {
  EXPECT_EQ(Classifier::Load("/nonexistent.ckpt").status().code(), absl::StatusCode::kNotFound);
}

TEST(ClassifierLoadTest, UnavailableCudaIsFailedPrecondition) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is present";
  catdog::testing::TempDir dir;
  Vgg16 model(VggOptions{2, 0.125});
  ModelCard card;
  card.width = 0.125;
  card.class_names = {"a", "b"};
  ASSERT_TRUE(SaveCheckpoint(dir.Sub("m.ckpt"), card, model, nullptr).ok());
  EXPECT_EQ(Classifier::Load(dir.Sub("m.ckpt"), ClassifierOptions{"cuda"}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace catdog::common
