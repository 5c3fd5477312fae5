// Writes TensorBoard event files: TFRecord framing (length, masked CRC32C of
// the length, data, masked CRC32C of the data) around tensorboard Event
// protos with scalar, image and text summaries. `tensorboard --logdir
// <parent>` shows them. Thread-compatible: one writer per run, used from one
// thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace catdog::common {

// CRC-32C (Castagnoli), as used by TFRecord.
uint32_t Crc32c(std::string_view data);
// TFRecord's masking: rotate right by 15 and add 0xa282ead8.
uint32_t MaskCrc(uint32_t crc);

class TensorBoardWriter {
 public:
  // Creates `run_dir` if needed and opens events.out.tfevents.<secs>.<host>.
  static absl::StatusOr<std::unique_ptr<TensorBoardWriter>> Create(const std::string& run_dir);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  absl::Status AddScalar(const std::string& tag, float value, int64_t step);
  // An RGB image, `png` its PNG encoding (the Images tab).
  absl::Status AddImage(const std::string& tag, const std::string& png, int height, int width, int64_t step);
  // Markdown text (the Text tab).
  absl::Status AddText(const std::string& tag, const std::string& markdown, int64_t step);
  absl::Status Flush();
  const std::string& path() const { return path_; }

 private:
  TensorBoardWriter(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  absl::Status WriteRecord(const std::string& data);

  const std::string path_;
  std::FILE* file_;
};

}  // namespace catdog::common
