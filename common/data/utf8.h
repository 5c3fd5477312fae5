// UTF-8 validity: names that reach the wire (class folders, ids) must be
// UTF-8, or protobuf refuses to send them.
#pragma once

#include "absl/strings/string_view.h"

namespace catdog::common {

// True for well-formed UTF-8 (no overlong forms, surrogates or code points
// above U+10FFFF).
bool IsValidUtf8(absl::string_view text);

}  // namespace catdog::common
