// SPDX-License-Identifier: Apache-2.0
// Byte-range editing of YAML text (DESIGN §8 point 16): a scalar is found through yaml-cpp's
// marks and only its bytes are replaced, so comments, key order, quoting and layout of
// everything else stay byte for byte. Anything that cannot be located unambiguously — a value
// behind an anchor or alias, an explicit tag, a block or multi-line scalar, a flow mapping
// split over lines, a duplicated key — is refused with file:line, never guessed. Pure
// functions on strings; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace galley::spec {

// Where one scalar's value sits in the text: [begin, end) excludes the quotes.
struct ScalarSpan {
  size_t begin = 0;
  size_t end = 0;
  int line = 0;    // 1-based
  char quote = 0;  // 0 (plain), '\'' or '"'
  std::string value;
};

// The scalar at `path` (keys of nested mappings from the document's root) in `text`, parsed
// as the file `file` (for messages). NotFound when a key on the path is absent (the message
// names the deepest mapping that exists and its line); InvalidArgument for everything this
// editor refuses.
Result<ScalarSpan> FindScalar(const std::string& file, const std::string& text,
                              const std::vector<std::string>& path);

// One replacement: the scalar at `path` gets `value`.
struct ScalarEdit {
  std::vector<std::string> path;
  std::string value;
};

// Applies `edits` to `text`: each scalar is located with FindScalar and rewritten in its own
// quoting style (a plain scalar whose new value would not read back as the same string is
// written double-quoted). The result is parsed again and must equal the original document
// with exactly those scalars changed (so an edit reaching a second place through an alias,
// or breaking the syntax, is refused). Nothing is returned on error.
Result<std::string> EditScalars(const std::string& file, const std::string& text,
                                const std::vector<ScalarEdit>& edits);

// The keys of the mapping at `path` (empty: the root), in file order. NotFound when absent,
// InvalidArgument when it is not a mapping or holds a duplicated key.
Result<std::vector<std::string>> MapKeys(const std::string& file, const std::string& text,
                                         const std::vector<std::string>& path);

}  // namespace galley::spec
