// SPDX-License-Identifier: Apache-2.0
// NestedDeeperThan: whether a JSON text nests arrays/objects deeper than `limit`, found by a
// scan that allocates nothing. The emulators check it before parsing a request body: a body
// of 8 MiB of '[' would otherwise become a DOM of millions of nested arrays (over 600 MB).
// Real servers refuse such documents too (Jackson's maximum nesting depth is 1000, Go's
// encoding/json gives up at 10000). Pure; thread-safe.
#pragma once

#include <string_view>

namespace galley::sandbox {

inline bool NestedDeeperThan(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace galley::sandbox
