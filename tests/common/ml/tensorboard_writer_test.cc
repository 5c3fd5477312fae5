#include "common/ml/tensorboard_writer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/support/tensorboard_events.h"
#include "tests/support/test_data.h"

namespace catdog::common {
namespace {

using catdog::testing::ReadEvents;

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
}

TEST(TensorBoardWriterTest, WritesFramedScalarEvents) {
  catdog::testing::TempDir dir;
  std::string path;
  {
    auto writer = TensorBoardWriter::Create(dir.Sub("run1"));
    ASSERT_TRUE(writer.ok()) << writer.status();
    path = (*writer)->path();
    EXPECT_NE(path.find("events.out.tfevents."), std::string::npos);
    ASSERT_TRUE((*writer)->AddScalar("Train Loss", 0.75f, 1).ok());
    ASSERT_TRUE((*writer)->AddScalar("Valid Accuracy", 0.5f, 1).ok());
    ASSERT_TRUE((*writer)->AddScalar("Train Loss", 0.25f, 2).ok());
  }
  const auto events = ReadEvents(path);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  EXPECT_EQ(events[1].step(), 1);
  EXPECT_EQ(events[1].summary().value(0).tag(), "Train Loss");
  EXPECT_FLOAT_EQ(events[1].summary().value(0).simple_value(), 0.75f);
  EXPECT_EQ(events[2].summary().value(0).tag(), "Valid Accuracy");
  EXPECT_EQ(events[3].step(), 2);
  EXPECT_FLOAT_EQ(events[3].summary().value(0).simple_value(), 0.25f);
  EXPECT_GT(events[3].wall_time(), 1.7e9);
}

TEST(TensorBoardWriterTest, WritesZeroScalarsImagesAndText) {
  catdog::testing::TempDir dir;
  std::string path;
  {
    auto writer = TensorBoardWriter::Create(dir.Sub("run"));
    ASSERT_TRUE(writer.ok());
    path = (*writer)->path();
    ASSERT_TRUE((*writer)->AddScalar("Valid Accuracy", 0.0f, 1).ok());
    ASSERT_TRUE((*writer)->AddImage("Samples", "\x89PNG...", 2, 3, 0).ok());
    ASSERT_TRUE((*writer)->AddText("Config", "```\n{}\n```", 0).ok());
  }
  const auto events = ReadEvents(path);
  ASSERT_EQ(events.size(), 4u);
  // A zero is written, not dropped as a proto3 default.
  EXPECT_TRUE(events[1].summary().value(0).has_simple_value());
  const auto& image = events[2].summary().value(0).image();
  EXPECT_EQ(image.height(), 2);
  EXPECT_EQ(image.width(), 3);
  EXPECT_EQ(image.colorspace(), 3);
  EXPECT_EQ(image.encoded_image_string(), "\x89PNG...");
  const auto& text = events[3].summary().value(0);
  EXPECT_EQ(text.metadata().plugin_data().plugin_name(), "text");
  EXPECT_EQ(text.tensor().dtype(), 7);
  EXPECT_TRUE(text.tensor().has_tensor_shape());
  EXPECT_EQ(text.tensor().string_val(0), "```\n{}\n```");
}

}  // namespace
}  // namespace catdog::common
