// SPDX-License-Identifier: Apache-2.0
// Formatting shared by the plan and drift views (text and Markdown): values, field names,
// code spans, all safe to print whatever live objects contain. Pure functions;
// thread-safe. Internal to engine/.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/strings.h"  // Printable, ShortCommit: the views use them unqualified

namespace galley::engine {

// JSON-encoded, whole, with invisible and bidirectional format characters escaped (so
// control characters, escapes and bidi overrides in live values cannot reach the terminal or
// a review). DisplayValue is whole; ShortValue at most 120 characters.
std::string DisplayValue(const nlohmann::json& v);
std::string ShortValue(const nlohmann::json& v);

// `text` (one line, no newlines) cut into lines of at most `width` bytes, after a ',' where
// one is in the second half of a line, never inside a UTF-8 sequence. At least one line.
std::vector<std::string> WrapLine(const std::string& text, size_t width);

// "/labels/version" → "labels.version"; "/healthChecks/0/path" → "healthChecks[0].path";
// "" → "(whole)".
std::string FieldName(const std::string& pointer);

// A Markdown code span that characters from live objects cannot break out of (control and
// invisible characters escaped as by Printable, base/strings.h).
std::string MarkdownCode(const std::string& s);

// JSON text that never throws: invalid UTF-8 in strings (live values can hold anything) is
// replaced with U+FFFD. `indent` as nlohmann's dump.
std::string SafeDump(const nlohmann::json& v, int indent = -1);
// The same text written to `out` as it is made (no string of the whole document).
void SafeDumpTo(std::ostream& out, const nlohmann::json& v, int indent = -1);

}  // namespace galley::engine
