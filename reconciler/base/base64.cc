// SPDX-License-Identifier: Apache-2.0
#include "base/base64.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace galley {
namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int B64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) |
                 (static_cast<uint8_t>(bytes[i + 1]) << 8) | static_cast<uint8_t>(bytes[i + 2]);
    out += kB64[(n >> 18) & 63];
    out += kB64[(n >> 12) & 63];
    out += kB64[(n >> 6) & 63];
    out += kB64[n & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    out += kB64[(n >> 18) & 63];
    out += kB64[(n >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += kB64[(n >> 18) & 63];
    out += kB64[(n >> 12) & 63];
    out += kB64[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view text, Base64Strictness strictness) {
  // Positions in errors refer to the input as given (CR/LF included), as Go's do.
  std::vector<std::pair<char, size_t>> chars;
  chars.reserve(text.size() + 2);
  bool padded = false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\r' && text[i] != '\n') chars.emplace_back(text[i], i);
    padded = padded || text[i] == '=';
  }
  // An unpadded last group of 2 or 3 characters is padded as it would have been.
  if (strictness == Base64Strictness::kPaddingOptional && !padded && chars.size() % 4 >= 2) {
    while (chars.size() % 4 != 0) chars.emplace_back('=', text.size());
  }
  auto bad = [](size_t pos) {
    return Status::InvalidArgument("illegal base64 data at input byte " + std::to_string(pos));
  };
  std::string out;
  out.reserve(chars.size() / 4 * 3);
  size_t i = 0;
  while (i < chars.size()) {
    int vals[4];
    int got = 0;
    int pad = 0;
    for (; got < 4; ++got) {
      if (i + got >= chars.size()) return bad(chars[i].second);
      char c = chars[i + got].first;
      if (c == '=') {
        if (got < 2) return bad(chars[i + got].second);
        // The rest of the quantum must be padding and the input must end there.
        pad = 4 - got;
        for (int k = got; k < 4; ++k) {
          if (i + k >= chars.size()) return bad(chars.back().second + 1);
          if (chars[i + k].first != '=') return bad(chars[i + k].second);
        }
        if (i + 4 != chars.size()) return bad(chars[i + 4].second);
        break;
      }
      vals[got] = B64Value(c);
      if (vals[got] < 0) return bad(chars[i + got].second);
    }
    uint32_t n = 0;
    for (int k = 0; k < 4 - pad; ++k) n |= static_cast<uint32_t>(vals[k]) << (18 - 6 * k);
    out += static_cast<char>((n >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(n & 0xFF);
    i += 4;
  }
  return out;
}

}  // namespace galley
