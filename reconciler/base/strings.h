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

}  // namespace galley
