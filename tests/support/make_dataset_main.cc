// catdog-make-dataset: writes a small synthetic two-class ImageFolder
// (cat/, dog/) for demos and the end-to-end test when the real photos are
// not at hand.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/support/test_data.h"

int main(int argc, char** argv) {
  const std::string usage = std::string("usage: ") + argv[0] + " OUT_DIR [PER_CLASS=40] [SIZE=48] [SEED=1]\n";
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::fputs(usage.c_str(), stdout);
    return 0;
  }
  if (argc < 2 || argc > 5 || argv[1][0] == '-') {
    std::fputs(usage.c_str(), stderr);
    return 2;
  }
  const int per_class = argc > 2 ? std::atoi(argv[2]) : 40;
  const int size = argc > 3 ? std::atoi(argv[3]) : 48;
  const unsigned seed = argc > 4 ? static_cast<unsigned>(std::atoi(argv[4])) : 1u;
  if (per_class < 1 || size < 8) {
    std::fprintf(stderr, "PER_CLASS must be >= 1 and SIZE >= 8\n");
    return 2;
  }
  catdog::testing::WriteSyntheticDataset(argv[1], per_class, size, seed);
  std::printf("wrote %d cat and %d dog images (%d px) under %s\n", per_class, per_class, size, argv[1]);
  return 0;
}
