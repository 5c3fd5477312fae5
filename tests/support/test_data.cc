#include "tests/support/test_data.h"

#include <stdlib.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace catdog::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base ? base : "/tmp") + "/catdog_test_XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

cv::Mat SyntheticImage(int label, int size, unsigned seed) {
  std::mt19937 rng(seed);
  cv::Mat img(size, size, CV_8UC3);
  // Its own generator: cv::randu's global one would make every dataset
  // depend on what the process drew before.
  cv::RNG noise(seed);
  noise.fill(img, cv::RNG::UNIFORM, cv::Scalar::all(0), cv::Scalar::all(90));
  // A bright square at a random place: red for class 0, blue for class 1.
  const int side = size / 2;
  const int x = static_cast<int>(rng() % static_cast<unsigned>(size - side + 1));
  const int y = static_cast<int>(rng() % static_cast<unsigned>(size - side + 1));
  const int boost = 110 + static_cast<int>(rng() % 50);
  img(cv::Rect(x, y, side, side)) += label == 0 ? cv::Scalar(boost, 20, 0) : cv::Scalar(0, 20, boost);
  return img;
}

std::string EncodePng(const cv::Mat& rgb) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<uchar> buf;
  cv::imencode(".png", bgr, buf);
  return std::string(buf.begin(), buf.end());
}

namespace {

void AppendBe32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

void AppendChunk(std::string& out, const char* type, const std::string& data) {
  AppendBe32(out, static_cast<uint32_t>(data.size()));
  const std::string body = std::string(type, 4) + data;
  out += body;
  AppendBe32(out, static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(body.data()),
                                             static_cast<uInt>(body.size()))));
}

}  // namespace

std::string PngBomb(int width, int height) {
  std::string ihdr;
  AppendBe32(ihdr, static_cast<uint32_t>(width));
  AppendBe32(ihdr, static_cast<uint32_t>(height));
  ihdr += std::string("\x08\x00\x00\x00\x00", 5);  // 8-bit gray, deflate, no filter, no interlace
  // Each row: filter byte 0, then `width` zero pixels; deflated row by row.
  z_stream z{};
  deflateInit(&z, Z_BEST_COMPRESSION);
  const std::string row(static_cast<size_t>(width) + 1, '\0');
  std::string idat;
  std::vector<unsigned char> buffer(1 << 16);
  for (int y = 0; y < height; ++y) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(row.data()));
    z.avail_in = static_cast<uInt>(row.size());
    const int flush = y + 1 == height ? Z_FINISH : Z_NO_FLUSH;
    do {
      z.next_out = buffer.data();
      z.avail_out = static_cast<uInt>(buffer.size());
      deflate(&z, flush);
      idat.append(reinterpret_cast<const char*>(buffer.data()), buffer.size() - z.avail_out);
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  std::string png("\x89PNG\r\n\x1a\n", 8);
  AppendChunk(png, "IHDR", ihdr);
  AppendChunk(png, "IDAT", idat);
  AppendChunk(png, "IEND", "");
  return png;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string WriteSyntheticDataset(const std::string& root, int per_class, int size, unsigned seed,
                                  const std::string& ext) {
  const char* names[] = {"cat", "dog"};
  for (int label = 0; label < 2; ++label) {
    const fs::path dir = fs::path(root) / names[label];
    fs::create_directories(dir);
    for (int i = 0; i < per_class; ++i) {
      const unsigned s = seed * 100003u + static_cast<unsigned>(label * 10007 + i);
      const int side = size + static_cast<int>(s % 5);  // vary sizes a little
      cv::Mat bgr;
      cv::cvtColor(SyntheticImage(label, side, s), bgr, cv::COLOR_RGB2BGR);
      cv::imwrite((dir / (std::string(names[label]) + "." + std::to_string(i) + ext)).string(), bgr);
    }
  }
  return root;
}

std::optional<std::string> RealPhotosDir() {
  const char* dir = std::getenv("CATDOG_DATA_DIR");
  if (dir == nullptr || !*dir) return std::nullopt;
  std::error_code ec;
  if (!fs::is_directory(fs::path(dir) / "train", ec)) return std::nullopt;
  return fs::weakly_canonical(dir).string();
}

}  // namespace catdog::testing

namespace catdog::testing {

common::TrainConfig TinyTrainConfig(const std::string& dataset_root, const std::string& output_dir) {
  common::TrainConfig c;
  c.dataset_root = dataset_root;
  c.output_dir = output_dir;
  c.preprocessing.image_size = 32;
  c.width = 0.125;
  c.batch_size = 8;
  c.epochs = 5;
  c.learning_rate = 3e-3;
  c.threads = 2;
  c.progress_interval = 1;
  return c;
}

}  // namespace catdog::testing
