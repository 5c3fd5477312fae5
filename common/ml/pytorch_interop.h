// PyTorch state-dict files in and out: the bridge to a notebook.
//
// Export writes what Python's `torch.save(model.state_dict())` writes: a zip
// archive with a protocol-2 pickle of an OrderedDict of tensors, using only
// the globals `torch.load(..., weights_only=True)` allows. The notebook's
// VGG16 loads it with `load_state_dict(..., strict=True)`. The model card
// travels beside it as an extra record Python ignores.
//
// Import reads such a file: the OrderedDict with `_metadata` that LibTorch's
// own pickle_load rejects (pytorch#100741), a plain dict, or a training
// checkpoint dict holding one under "state_dict" / "model_state_dict" /
// "model"; a DataParallel "module." prefix is dropped. Its own small
// unpickler understands only containers, numbers, strings and tensors:
// nothing in the file is ever called, so a hostile file can only be refused.
//
// Errors: INVALID_ARGUMENT for a file that is not such an archive, holds
// anything else, or does not match the architecture (names and shapes are
// matched strictly, both ways); the messages name what differs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/data/model_card.h"

namespace catdog::common {

// The bytes of a state-dict file with the weights of the checkpoint at `path`.
absl::StatusOr<std::string> ExportStateDict(const std::string& checkpoint_path);

struct ImportOptions {
  // Empty: taken from the card a catdog export carries (INVALID_ARGUMENT
  // when there is none).
  std::vector<std::string> class_names;
  int image_size = 0;  // 0: from the exported card, else 224 (the reference)
  // ImageNet mean/std after scaling to [0, 1]; unset: the exported card's
  // choice, else off (the reference).
  std::optional<bool> normalize;
};

// Writes `bytes` (a state-dict file) as a catdog checkpoint at
// `checkpoint_path` (atomically) and returns its card (kind "imported").
absl::StatusOr<ModelCard> ImportStateDict(absl::string_view bytes, const ImportOptions& options,
                                          const std::string& checkpoint_path);

}  // namespace catdog::common
