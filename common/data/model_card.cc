#include "common/data/model_card.h"

#include "common/data/json_schema.h"
#include "common/data/training_observer.h"

namespace catdog::common {

std::string ModelCardToJson(const ModelCard& card) { return nlohmann::json(card).dump(); }

absl::StatusOr<ModelCard> ModelCardFromJson(const std::string& text) {
  return ParseJson<ModelCard>(text, "model card");
}

const char* CheckpointKindName(CheckpointKind kind) {
  return kind == CheckpointKind::kBest ? "best" : "last";
}

}  // namespace catdog::common
