// SPDX-License-Identifier: Apache-2.0
#include "engine/diff.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

std::string Escape(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

void Walk(const std::string& at, const json& a, const json& b, std::vector<FieldChange>& out) {
  if (a == b) return;
  if (a.is_object() && b.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      std::string p = at + "/" + Escape(it.key());
      auto jt = b.find(it.key());
      if (jt == b.end()) {
        out.push_back({p, true, it.value(), false, nullptr});
      } else {
        Walk(p, it.value(), *jt, out);
      }
    }
    for (auto jt = b.begin(); jt != b.end(); ++jt) {
      if (!a.contains(jt.key())) out.push_back({at + "/" + Escape(jt.key()), false, nullptr, true, jt.value()});
    }
    return;
  }
  if (a.is_array() && b.is_array() && a.size() == b.size()) {
    for (size_t i = 0; i < a.size(); ++i) Walk(at + "/" + std::to_string(i), a[i], b[i], out);
    return;
  }
  out.push_back({at.empty() ? "/" : at, true, a, true, b});
}

}  // namespace

std::vector<FieldChange> DiffJson(const json& before, const json& after) {
  std::vector<FieldChange> out;
  Walk("", before, after, out);
  return out;
}

}  // namespace galley::engine
