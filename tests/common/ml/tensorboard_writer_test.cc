#include "common/ml/tensorboard_writer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tensorboard/event.pb.h"
#include "tests/support/test_data.h"

namespace catdog::common {
namespace {

uint64_t ReadLE(const std::string& s, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[pos + i]);
  return v;
}

// Parses a TFRecord file, checking both CRCs of every record.
std::vector<tensorboard::Event> ReadEvents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  std::vector<tensorboard::Event> events;
  size_t pos = 0;
  while (pos < data.size()) {
    EXPECT_LE(pos + 12, data.size());
    const uint64_t length = ReadLE(data, pos, 8);
    EXPECT_EQ(ReadLE(data, pos + 8, 4), MaskCrc(Crc32c(data.substr(pos, 8))));
    const std::string payload = data.substr(pos + 12, length);
    EXPECT_EQ(payload.size(), length);
    EXPECT_EQ(ReadLE(data, pos + 12 + length, 4), MaskCrc(Crc32c(payload)));
    tensorboard::Event event;
    EXPECT_TRUE(event.ParseFromString(payload));
    events.push_back(event);
    pos += 12 + length + 4;
  }
  return events;
}

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

}  // namespace
}  // namespace catdog::common
