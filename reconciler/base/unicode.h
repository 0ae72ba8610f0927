// SPDX-License-Identifier: Apache-2.0
// Characters that must not reach a terminal or a review unescaped: they are invisible, or
// change how the text around them is shown (bidirectional overrides: "Trojan Source").
// Shared by the plan and drift views, history and diagnostics. Pure functions.
#pragma once

#include <string>
#include <string_view>

namespace galley {

// True for code points that change how the text around them is shown, or hide, without
// being visible themselves: C1 controls, bidirectional marks, embeddings, overrides and
// isolates (U+061C, U+200E/F, U+202A–202E, U+2066–2069), zero-width and invisible format
// characters (U+00AD, U+180E, U+200B–200D, U+2060–2064, U+206A–206F, U+FEFF, U+FFF9–FFFB),
// the line and paragraph separators U+2028/2029, and tag characters (U+E0001, U+E0020–E007F).
bool IsInvisibleCodePoint(char32_t c);

// UTF-8 text with each such code point written as a JSON escape: a backslash, 'u' and four
// hex digits (a surrogate pair above the BMP); everything else, invalid UTF-8 included,
// unchanged. Inside a JSON string the result is still the same JSON value.
std::string EscapeInvisible(std::string_view s);

}  // namespace galley
