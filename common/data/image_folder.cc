#include "common/data/image_folder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/data/confinement.h"
#include "common/data/random.h"
#include "common/data/utf8.h"

namespace catdog::common {
namespace fs = std::filesystem;

std::vector<int64_t> ImageFolder::CountsPerClass() const {
  std::vector<int64_t> counts(classes.size(), 0);
  for (const Sample& s : samples) ++counts[static_cast<size_t>(s.label)];
  return counts;
}

bool HasImageExtension(const std::string& path) {
  static constexpr const char* kExtensions[] = {".jpg", ".jpeg", ".png", ".bmp", ".ppm",
                                                ".pgm", ".tif",  ".tiff", ".webp"};
  const std::string ext = absl::AsciiStrToLower(fs::path(path).extension().string());
  return std::any_of(std::begin(kExtensions), std::end(kExtensions),
                     [&](const char* e) { return ext == e; });
}

absl::StatusOr<ImageFolder> ScanImageFolder(const std::string& root, const std::string& confine_root) {
  // A link that leads out of the confinement fails the whole dataset: a
  // silently smaller dataset would hide it.
  auto confined = [&](const fs::directory_entry& entry) -> absl::Status {
    std::error_code link_ec;
    if (confine_root.empty() || !entry.is_symlink(link_ec) ||
        ResolvesWithin(confine_root, entry.path().string())) {
      return absl::OkStatus();
    }
    return absl::PermissionDeniedError(absl::StrCat(
        "'", entry.path().lexically_relative(root).string(), "' is a link that leads outside the data root"));
  };
  std::error_code ec;
  if (!fs::exists(root, ec)) return absl::NotFoundError(absl::StrCat("dataset root ", root, " does not exist"));
  if (!fs::is_directory(root, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("dataset root ", root, " is not a directory"));
  }
  ImageFolder folder;
  folder.root = root;
  for (const fs::directory_entry& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || !entry.is_directory(ec)) continue;
    if (absl::Status s = confined(entry); !s.ok()) return s;
    // Class names travel in every job record and prediction; protobuf
    // refuses strings that are not UTF-8.
    if (!IsValidUtf8(name)) {
      return absl::InvalidArgumentError(absl::StrCat("class folder name \"", absl::CHexEscape(name),
                                                     "\" in ", root, " is not valid UTF-8; rename it"));
    }
    folder.classes.push_back(name);
  }
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot list ", root, ": ", ec.message()));
  std::sort(folder.classes.begin(), folder.classes.end());
  if (folder.classes.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset root ", root, " has ", folder.classes.size(),
        " class folder(s); need at least two (one sub-folder of images per class)"));
  }
  for (size_t label = 0; label < folder.classes.size(); ++label) {
    const fs::path class_dir = fs::path(root) / folder.classes[label];
    std::vector<std::string> files;
    for (auto it = fs::recursive_directory_iterator(class_dir, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec) && HasImageExtension(it->path().string())) {
        if (absl::Status s = confined(*it); !s.ok()) return s;
        files.push_back(it->path().string());
      }
    }
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot list ", class_dir.string(), ": ", ec.message()));
    }
    if (files.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("class folder ", class_dir.string(),
                                                     " contains no image files"));
    }
    std::sort(files.begin(), files.end());
    for (std::string& f : files) folder.samples.push_back({std::move(f), static_cast<int>(label)});
  }
  return folder;
}

SplitResult StratifiedSplit(const std::vector<Sample>& samples, int num_classes,
                            double valid_fraction, uint64_t seed) {
  std::vector<std::vector<size_t>> by_class(static_cast<size_t>(num_classes));
  for (size_t i = 0; i < samples.size(); ++i) {
    by_class[static_cast<size_t>(samples[i].label)].push_back(i);
  }
  // The small epsilon keeps 0.2 * 8005 = 1601.0000000000002 from rounding up.
  const auto total_valid = static_cast<int64_t>(
      std::ceil(valid_fraction * static_cast<double>(samples.size()) - 1e-9));
  std::vector<int64_t> valid_count(by_class.size());
  std::vector<double> remainder(by_class.size());
  int64_t assigned = 0;
  for (size_t c = 0; c < by_class.size(); ++c) {
    const double exact = valid_fraction * static_cast<double>(by_class[c].size());
    valid_count[c] = static_cast<int64_t>(std::floor(exact + 1e-9));
    remainder[c] = exact - static_cast<double>(valid_count[c]);
    assigned += valid_count[c];
  }
  std::vector<size_t> order(by_class.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return remainder[a] > remainder[b]; });
  for (size_t k = 0; assigned < total_valid && k < order.size(); ++k, ++assigned) {
    ++valid_count[order[k]];
  }

  SplitResult split;
  for (size_t c = 0; c < by_class.size(); ++c) {
    std::vector<size_t>& idx = by_class[c];
    Rng rng = Rng::Derive(seed, c);
    rng.Shuffle(idx);
    const auto n_valid = static_cast<size_t>(std::min<int64_t>(valid_count[c], idx.size()));
    std::sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n_valid));
    std::sort(idx.begin() + static_cast<std::ptrdiff_t>(n_valid), idx.end());
    for (size_t k = 0; k < idx.size(); ++k) {
      (k < n_valid ? split.valid : split.train).push_back(samples[idx[k]]);
    }
  }
  return split;
}

}  // namespace catdog::common
