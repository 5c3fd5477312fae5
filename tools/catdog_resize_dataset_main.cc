// catdog-resize-dataset: a resized JPEG copy of an image tree, for carrying
// the photos to a GPU host (README "GPU hosts"):
//
//   catdog-resize-dataset ../shared/data/catdog /tmp/catdog224 --size 224
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "common/data/resized_copy.h"

int main(int argc, char** argv) {
  CLI::App app{
      "Writes every image under SRC to the same path under DST, resized to SIZE x SIZE as "
      "catdog's training loader resizes at that size, as JPEG. Training at --image-size SIZE "
      "on the copy sees the same pixels up to JPEG's rounding."};
  std::string src, dst;
  int size = 224, quality = 85;
  app.add_option("SRC", src, "image tree to copy (e.g. ../shared/data/catdog)")->required()->check(CLI::ExistingDirectory);
  app.add_option("DST", dst, "new folder for the copy (must not exist or be empty)")->required();
  app.add_option("--size", size, "side in pixels: the --image-size you will train at")->capture_default_str();
  app.add_option("--quality", quality, "JPEG quality 1-100")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto stats = catdog::common::WriteResizedCopy(src, dst, size, quality);
  if (!stats.ok()) {
    std::fprintf(stderr, "catdog-resize-dataset: %s\n", std::string(stats.status().message()).c_str());
    return 1;
  }
  for (const std::string& why : stats->failed) std::fprintf(stderr, "skipped %s\n", why.c_str());
  std::printf("%lld images, %.1f MiB -> %.1f MiB at %d px, quality %d, in %s\n",
              static_cast<long long>(stats->images), stats->bytes_read / 1048576.0,
              stats->bytes_written / 1048576.0, size, quality, dst.c_str());
  if (!stats->failed.empty()) {
    std::fprintf(stderr, "catdog-resize-dataset: %zu images did not decode (listed above)\n", stats->failed.size());
    return 1;
  }
  return 0;
}
