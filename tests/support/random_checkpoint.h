// A random-weights checkpoint (width 0.125, 32 px, cat/dog), for service
// tests that need a model to serve but no training. Header-only: the test
// support library has no LibTorch.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "common/data/model_card.h"
#include "common/ml/checkpoint.h"
#include "common/ml/vgg.h"

namespace catdog::testing {

inline void WriteRandomCheckpoint(const std::string& path) {
  common::Vgg16 model(common::VggOptions{2, 0.125});
  common::ModelCard card;
  card.width = 0.125;
  card.class_names = {"cat", "dog"};
  card.preprocessing.image_size = 32;
  ASSERT_TRUE(common::SaveCheckpoint(path, card, model, nullptr).ok()) << path;
}

}  // namespace catdog::testing
