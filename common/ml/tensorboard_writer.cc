#include "common/ml/tensorboard_writer.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "tensorboard/event.pb.h"

namespace catdog::common {
namespace {

constexpr std::array<uint32_t, 256> MakeCrc32cTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    table[i] = crc;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrc32cTable = MakeCrc32cTable();

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void AppendLittleEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

}  // namespace

uint32_t Crc32c(std::string_view data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) crc = kCrc32cTable[(crc ^ c) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

absl::StatusOr<std::unique_ptr<TensorBoardWriter>> TensorBoardWriter::Create(const std::string& run_dir) {
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", run_dir, ": ", ec.message()));
  char host[256] = "localhost";
  ::gethostname(host, sizeof(host) - 1);
  const auto secs = static_cast<int64_t>(NowSeconds());
  const std::string path = absl::StrCat(run_dir, "/events.out.tfevents.", secs, ".", host);
  std::FILE* file = std::fopen(path.c_str(), "ab");
  if (file == nullptr) return absl::InternalError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  std::unique_ptr<TensorBoardWriter> writer(new TensorBoardWriter(path, file));
  tensorboard::Event header;
  header.set_wall_time(NowSeconds());
  header.set_file_version("brain.Event:2");
  absl::Status s = writer->WriteRecord(header.SerializeAsString());
  if (!s.ok()) return s;
  if (s = writer->Flush(); !s.ok()) return s;
  return writer;
}

TensorBoardWriter::~TensorBoardWriter() { std::fclose(file_); }

absl::Status TensorBoardWriter::AddScalar(const std::string& tag, float value, int64_t step) {
  tensorboard::Event event;
  event.set_wall_time(NowSeconds());
  event.set_step(step);
  tensorboard::SummaryValue* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(value);
  return WriteRecord(event.SerializeAsString());
}

absl::Status TensorBoardWriter::AddImage(const std::string& tag, const std::string& png, int height, int width,
                                         int64_t step) {
  tensorboard::Event event;
  event.set_wall_time(NowSeconds());
  event.set_step(step);
  tensorboard::SummaryValue* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  tensorboard::SummaryImage* image = v->mutable_image();
  image->set_height(height);
  image->set_width(width);
  image->set_colorspace(3);
  image->set_encoded_image_string(png);
  return WriteRecord(event.SerializeAsString());
}

absl::Status TensorBoardWriter::AddText(const std::string& tag, const std::string& markdown, int64_t step) {
  tensorboard::Event event;
  event.set_wall_time(NowSeconds());
  event.set_step(step);
  tensorboard::SummaryValue* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  v->mutable_metadata()->mutable_plugin_data()->set_plugin_name("text");
  tensorboard::Tensor* tensor = v->mutable_tensor();
  tensor->set_dtype(7);  // DT_STRING
  tensor->mutable_tensor_shape();
  tensor->add_string_val(markdown);
  return WriteRecord(event.SerializeAsString());
}

absl::Status TensorBoardWriter::WriteRecord(const std::string& data) {
  std::string header;
  AppendLittleEndian(header, data.size(), 8);
  std::string framed = header;
  AppendLittleEndian(framed, MaskCrc(Crc32c(header)), 4);
  framed += data;
  AppendLittleEndian(framed, MaskCrc(Crc32c(data)), 4);
  if (std::fwrite(framed.data(), 1, framed.size(), file_) != framed.size()) {
    return absl::InternalError(absl::StrCat("write ", path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status TensorBoardWriter::Flush() {
  if (std::fflush(file_) != 0) return absl::InternalError(absl::StrCat("flush ", path_, ": ", std::strerror(errno)));
  return absl::OkStatus();
}

}  // namespace catdog::common
