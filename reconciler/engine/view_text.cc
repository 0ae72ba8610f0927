// SPDX-License-Identifier: Apache-2.0
#include "engine/view_text.h"

#include <algorithm>
#include <cctype>

#include "base/strings.h"
#include "base/unicode.h"

namespace galley::engine {

std::string DisplayValue(const nlohmann::json& v) { return EscapeInvisible(SafeDump(v)); }

std::string ShortValue(const nlohmann::json& v) { return Truncate(DisplayValue(v), 120); }

std::vector<std::string> WrapLine(const std::string& text, size_t width) {
  std::vector<std::string> lines;
  size_t start = 0;
  width = std::max<size_t>(width, 8);
  while (text.size() - start > width) {
    size_t cut = start + width;
    size_t comma = text.rfind(',', cut - 1);
    if (comma != std::string::npos && comma >= start + width / 2) {
      cut = comma + 1;
    } else {
      while (cut > start + 1 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    }
    lines.push_back(text.substr(start, cut - start));
    start = cut;
  }
  lines.push_back(text.substr(start));
  return lines;
}

std::string FieldName(const std::string& pointer) {
  std::string out;
  size_t i = 1;
  while (i <= pointer.size()) {
    size_t next = pointer.find('/', i);
    std::string seg = pointer.substr(i, next == std::string::npos ? std::string::npos : next - i);
    std::string unescaped;
    for (size_t k = 0; k < seg.size(); ++k) {
      if (seg[k] == '~' && k + 1 < seg.size()) {
        unescaped += seg[k + 1] == '1' ? '/' : '~';
        ++k;
      } else {
        unescaped += seg[k];
      }
    }
    bool index = !unescaped.empty() && std::all_of(unescaped.begin(), unescaped.end(), ::isdigit);
    out += index ? "[" + unescaped + "]" : (out.empty() ? "" : ".") + unescaped;
    if (next == std::string::npos) break;
    i = next + 1;
  }
  return out.empty() ? "(whole)" : out;
}

std::string MarkdownCode(const std::string& s) {
  std::string out;
  for (char c : s) out += (c == '`' || c == '\n' || c == '\r' || c == '|') ? '_' : c;
  return "`" + Printable(out) + "`";
}

std::string SafeDump(const nlohmann::json& v, int indent) {
  return v.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

void SafeDumpTo(std::ostream& out, const nlohmann::json& v, int indent) {
  // What json::dump does, with the stream as its output instead of a string.
  nlohmann::detail::serializer<nlohmann::json> s(nlohmann::detail::output_adapter<char>(out), ' ',
                                                 nlohmann::json::error_handler_t::replace);
  s.dump(v, indent >= 0, false, indent >= 0 ? static_cast<unsigned int>(indent) : 0u);
}

}  // namespace galley::engine
