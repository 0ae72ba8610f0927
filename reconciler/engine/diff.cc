// SPDX-License-Identifier: Apache-2.0
#include "engine/diff.h"

#include <algorithm>

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
      if (!a.contains(jt.key()))
        out.push_back({at + "/" + Escape(jt.key()), false, nullptr, true, jt.value()});
    }
    return;
  }
  if (a.is_array() && b.is_array() && a.size() == b.size()) {
    for (size_t i = 0; i < a.size(); ++i) Walk(at + "/" + std::to_string(i), a[i], b[i], out);
    return;
  }
  out.push_back({at.empty() ? "/" : at, true, a, true, b});
}

void Leaves(const std::string& at, const json& v, std::vector<FieldChange>& out) {
  bool descend_array = v.is_array() && !v.empty() &&
                       std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_object(); });
  if (v.is_object() && !v.empty()) {
    for (auto it = v.begin(); it != v.end(); ++it)
      Leaves(at + "/" + Escape(it.key()), it.value(), out);
  } else if (descend_array) {
    for (size_t i = 0; i < v.size(); ++i) Leaves(at + "/" + std::to_string(i), v[i], out);
  } else {
    out.push_back({at, false, nullptr, true, v});
  }
}

}  // namespace

std::vector<FieldChange> LeafFields(const json& doc) {
  std::vector<FieldChange> out;
  Leaves("", doc, out);
  return out;
}

std::vector<FieldChange> DiffJson(const json& before, const json& after) {
  std::vector<FieldChange> out;
  Walk("", before, after, out);
  return out;
}

}  // namespace galley::engine
