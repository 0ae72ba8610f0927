// SPDX-License-Identifier: Apache-2.0
// The two ways the agent cuts HAProxy's text (configs, `show servers state`, `show proc`):
// into lines, and a line into whitespace-separated fields. Views into the caller's text.
#pragma once

#include <string_view>
#include <vector>

namespace galley::agent {

// Lines without their '\n' (a last line without one included; no empty line after a final
// '\n').
inline std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

// Fields separated by runs of spaces, tabs or carriage returns.
inline std::vector<std::string_view> Fields(std::string_view s) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && blank(s[i])) ++i;
    size_t j = i;
    while (j < s.size() && !blank(s[j])) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace galley::agent
