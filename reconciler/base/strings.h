// SPDX-License-Identifier: Apache-2.0
// Small string helpers shared by every module. Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace galley {

std::string Join(const std::vector<std::string>& parts, std::string_view sep);
std::vector<std::string> Split(std::string_view s, char sep);
bool StartsWith(std::string_view s, std::string_view prefix);
bool EndsWith(std::string_view s, std::string_view suffix);

// Returns the number of Levenshtein edits between a and b, or max_distance + 1 when it
// is larger than max_distance (0 = unbounded).
int EditDistance(std::string_view a, std::string_view b, int max_distance = 0);

// Returns the candidate closest to `word` when it is near enough to be a likely typo
// (at most 1 edit for short words, 2 for longer, 3 for long ones), else "".
std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates);

// Returns the byte offset of the first invalid UTF-8 sequence, or npos when valid.
size_t FindInvalidUtf8(std::string_view s);

// Quotes a string for messages: 'abc', with control characters escaped.
std::string Quote(std::string_view s);

// Text from anywhere (live values, the store, CI variables) made safe for a terminal or a
// review: control characters replaced by '?', invisible and bidirectional format characters
// escaped (EscapeInvisible: U+202E as backslash-u202e), then cut to `max` bytes (Truncate).
std::string Printable(std::string_view s, size_t max = std::string_view::npos);

// `s` when it has at most `max` bytes; else cut, never inside a UTF-8 sequence, so that with
// "..." appended it has at most `max` bytes (at least 3).
std::string Truncate(std::string_view s, size_t max);

// A Git commit as galley shows it: the first 12 hex digits, keeping the "-dirty" galley
// appends for a work tree with changes ("3f61674b7e35", "3f61674b7e35-dirty").
std::string ShortCommit(std::string_view commit);

}  // namespace galley
