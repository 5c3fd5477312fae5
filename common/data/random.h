// A small, fully specified PRNG (SplitMix64). std:: distributions differ
// between standard libraries, so everything that must be reproducible across
// platforms (the split, the shuffle, augmentation draws) uses this instead.
//
// Not thread-safe: one instance per thread or per derived stream.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace catdog::common {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  // Independent stream for (seed, a, b): e.g. (loader seed, epoch, sample).
  static Rng Derive(uint64_t seed, uint64_t a, uint64_t b = 0) {
    Rng mix(seed ^ (a * 0x9E3779B97F4A7C15ULL));
    mix.Next();
    Rng out(mix.Next() ^ (b * 0xD1B54A32D192ED03ULL));
    out.Next();
    return out;
  }

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n); n > 0. Modulo bias is below 2^-40 for n < 2^24.
  uint64_t Below(uint64_t n) { return Next() % n; }

  // Fisher-Yates, identical on every platform for the same seed.
  template <typename T>
  void Shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[Below(i)]);
  }

 private:
  uint64_t state_;
};

}  // namespace catdog::common
