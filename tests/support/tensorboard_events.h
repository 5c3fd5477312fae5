// Reads back a TensorBoard event file, checking both CRCs of every record.
// Header-only: the test support library links no LibTorch.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/ml/tensorboard_writer.h"
#include "tensorboard/event.pb.h"

namespace catdog::testing {

inline uint64_t ReadLittleEndian(const std::string& s, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[pos + i]);
  return v;
}

inline std::vector<tensorboard::Event> ReadEvents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  std::vector<tensorboard::Event> events;
  size_t pos = 0;
  while (pos < data.size()) {
    EXPECT_LE(pos + 12, data.size());
    const uint64_t length = ReadLittleEndian(data, pos, 8);
    EXPECT_EQ(ReadLittleEndian(data, pos + 8, 4), common::MaskCrc(common::Crc32c(data.substr(pos, 8))));
    const std::string payload = data.substr(pos + 12, length);
    EXPECT_EQ(payload.size(), length);
    EXPECT_EQ(ReadLittleEndian(data, pos + 12 + length, 4), common::MaskCrc(common::Crc32c(payload)));
    tensorboard::Event event;
    EXPECT_TRUE(event.ParseFromString(payload));
    events.push_back(event);
    pos += 12 + length + 4;
  }
  return events;
}

}  // namespace catdog::testing
