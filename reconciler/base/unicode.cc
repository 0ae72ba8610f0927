// SPDX-License-Identifier: Apache-2.0
#include "base/unicode.h"

#include <cstdio>

namespace galley {

bool IsInvisibleCodePoint(char32_t c) {
  return (c >= 0x80 && c <= 0x9F) || c == 0xAD || c == 0x61C || c == 0x180E ||
         (c >= 0x200B && c <= 0x200F) || (c >= 0x2028 && c <= 0x202E) ||
         (c >= 0x2060 && c <= 0x2064) || (c >= 0x2066 && c <= 0x206F) || c == 0xFEFF ||
         (c >= 0xFFF9 && c <= 0xFFFB) || c == 0xE0001 || (c >= 0xE0020 && c <= 0xE007F);
}

std::string EscapeInvisible(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    size_t len = b < 0xC2 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : b < 0xF5 ? 4 : 1;
    char32_t cp = 0;
    bool valid = len > 1 && i + len <= s.size();
    if (valid) {
      cp = b & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
      for (size_t k = 1; k < len && valid; ++k) {
        unsigned char cont = static_cast<unsigned char>(s[i + k]);
        valid = (cont & 0xC0) == 0x80;
        cp = (cp << 6) | (cont & 0x3F);
      }
    }
    if (valid && IsInvisibleCodePoint(cp)) {
      char buf[16];
      if (cp > 0xFFFF) {  // a UTF-16 surrogate pair, as JSON writes it
        unsigned v = static_cast<unsigned>(cp) - 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
      }
      out += buf;
      i += len;
      continue;
    }
    size_t n = valid ? len : 1;
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace galley
