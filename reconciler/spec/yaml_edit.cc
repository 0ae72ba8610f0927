// SPDX-License-Identifier: Apache-2.0
#include "spec/yaml_edit.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

namespace galley::spec {
namespace {

using nlohmann::json;

std::string At(const std::string& file, const YAML::Mark& m) {
  return file + ":" + std::to_string(m.line + 1);
}

std::string PathText(const std::vector<std::string>& path, size_t n) {
  std::string s;
  for (size_t i = 0; i < n && i < path.size(); ++i) s += (i ? "." : "") + path[i];
  return s.empty() ? "the document" : s;
}

Result<YAML::Node> Parse(const std::string& file, const std::string& text) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(file + ":" + std::to_string(e.mark.line + 1) +
                                   ": not valid YAML: " + e.msg);
  }
}

// The end of a quoted scalar starting at `pos` (the index of its closing quote), or npos.
size_t QuotedEnd(const std::string& text, size_t pos) {
  char q = text[pos];
  for (size_t i = pos + 1; i < text.size(); ++i) {
    if (q == '"' && text[i] == '\\') {
      ++i;
      continue;
    }
    if (text[i] == q) {
      if (q == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
        ++i;
        continue;
      }
      return i;
    }
  }
  return std::string::npos;
}

// The index just past the flow collection opening at `pos`, or npos.
size_t FlowEnd(const std::string& text, size_t pos) {
  int depth = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"' || c == '\'') {
      size_t e = QuotedEnd(text, i);
      if (e == std::string::npos) return e;
      i = e;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    } else if (c == '#' && i > 0 && (text[i - 1] == ' ' || text[i - 1] == '\t')) {
      while (i < text.size() && text[i] != '\n') ++i;
    }
  }
  return std::string::npos;
}

Status Refuse(const std::string& where, const std::string& what, const std::string& why) {
  return Status::InvalidArgument(where + ": " + what + ": " + why +
                                 "; galley edits only a plain or simply quoted scalar on the "
                                 "key's own line (edit this one by hand)");
}

// Checks that the bytes between a key and its value hold only ':' and blanks (and, before a
// nested block, newlines and comments): no anchor, alias or explicit tag on the way.
Status CheckLink(const std::string& file, const std::string& text, const YAML::Node& key,
                 const YAML::Node& value, const std::string& what) {
  size_t kpos = key.Mark().pos;
  size_t kend;
  if (text[kpos] == '"' || text[kpos] == '\'') {
    kend = QuotedEnd(text, kpos);
    if (kend == std::string::npos) return Refuse(At(file, key.Mark()), what, "unreadable key");
    ++kend;
  } else if (text.compare(kpos, key.Scalar().size(), key.Scalar()) == 0) {
    kend = kpos + key.Scalar().size();
  } else {
    return Refuse(At(file, key.Mark()), what, "the key is not written plainly");
  }
  size_t vpos = value.Mark().pos;
  size_t p = kend;
  while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) ++p;
  if (p >= text.size() || text[p] != ':') {
    return Refuse(At(file, key.Mark()), what, "cannot find the ':' after the key");
  }
  ++p;
  for (;;) {
    while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) ++p;
    if (p < text.size() && text[p] == '#') {
      while (p < text.size() && text[p] != '\n') ++p;
    }
    if (p < text.size() && (text[p] == '\n' || text[p] == '\r')) {
      ++p;
      continue;
    }
    break;
  }
  char c = p < text.size() ? text[p] : '\0';
  if (c == '*' || (p != vpos && vpos < kend)) {
    return Refuse(At(file, key.Mark()), what, "its value is an alias (*name) of another node");
  }
  if (c == '&') return Refuse(At(file, key.Mark()), what, "its value carries an anchor (&name)");
  if (c == '!') return Refuse(At(file, key.Mark()), what, "its value carries an explicit tag (!)");
  if (p != vpos) return Refuse(At(file, key.Mark()), what, "cannot locate its value");
  return Status::Ok();
}

struct Walked {
  YAML::Node node;
  YAML::Node key;  // the key whose value `node` is (undefined for the root)
};

// Walks `path` from the root, checking every step.
Result<Walked> Walk(const std::string& file, const std::string& text, const YAML::Node& root,
                    const std::vector<std::string>& path) {
  Walked w{root, YAML::Node()};
  for (size_t i = 0; i < path.size(); ++i) {
    const YAML::Node& node = w.node;
    std::string where = PathText(path, i);
    if (!node.IsMap()) {
      return Status::InvalidArgument(At(file, node.Mark()) + ": " + where +
                                     " is not a mapping, cannot find " + path[i] + " under it");
    }
    size_t mpos = node.Mark().pos;
    if (mpos < text.size() && text[mpos] == '{') {
      size_t end = FlowEnd(text, mpos);
      if (end == std::string::npos || text.find('\n', mpos) < end) {
        return Refuse(At(file, node.Mark()), where, "a flow mapping {...} split over lines");
      }
    }
    std::optional<std::pair<YAML::Node, YAML::Node>> found;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar() || it->first.Scalar() != path[i]) continue;
      if (found) {
        return Status::InvalidArgument(At(file, it->first.Mark()) + ": duplicated key " +
                                       PathText(path, i + 1) + " (first at line " +
                                       std::to_string(found->first.Mark().line + 1) +
                                       "): which one counts is ambiguous; remove one");
      }
      found = std::make_pair(it->first, it->second);
    }
    if (!found) {
      return Status::NotFound(At(file, node.Mark()) + ": no key " + path[i] + " under " + where);
    }
    if (Status s = CheckLink(file, text, found->first, found->second, PathText(path, i + 1));
        !s.ok()) {
      return s;
    }
    w = Walked{found->second, found->first};
  }
  return w;
}

json ToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return n.Scalar();
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& e : n) a.push_back(ToJson(e));
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (auto it = n.begin(); it != n.end(); ++it) {
        std::string k = it->first.IsScalar() ? it->first.Scalar() : ToJson(it->first).dump();
        o[k] = ToJson(it->second);
      }
      return o;
    }
    default:
      return nullptr;
  }
}

bool PlainSafe(const std::string& v) {
  if (v.empty()) return false;
  char f = v[0];
  if (!(std::isalnum(static_cast<unsigned char>(f)) || f == '_' || f == '/')) return false;
  for (char c : v) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) ||
          std::string_view("_./+@%=~-").find(c) != std::string_view::npos)) {
      return false;
    }
  }
  return true;
}

Result<std::string> DoubleQuoted(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Status::InvalidArgument("the new value holds a control character");
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Result<ScalarSpan> FindScalar(const std::string& file, const std::string& text,
                              const std::vector<std::string>& path) {
  ASSIGN_OR_RETURN(YAML::Node root, Parse(file, text));
  ASSIGN_OR_RETURN(Walked w, Walk(file, text, root, path));
  std::string what = PathText(path, path.size());
  const YAML::Node& n = w.node;
  if (n.IsNull()) {
    return Status::InvalidArgument(At(file, w.key.Mark()) + ": " + what + " has no value");
  }
  if (!n.IsScalar()) {
    return Status::InvalidArgument(At(file, n.Mark()) + ": " + what + " is not a scalar");
  }
  size_t pos = n.Mark().pos;
  ScalarSpan span;
  span.line = n.Mark().line + 1;
  span.value = n.Scalar();
  char c = pos < text.size() ? text[pos] : '\0';
  if (c == '|' || c == '>') {
    return Refuse(At(file, n.Mark()), what, "a block scalar (| or >) spans several lines");
  }
  if (c == '"' || c == '\'') {
    size_t close = QuotedEnd(text, pos);
    if (close == std::string::npos || text.find('\n', pos) < close) {
      return Refuse(At(file, n.Mark()), what, "a quoted scalar spread over several lines");
    }
    if (text.compare(pos + 1, close - pos - 1, span.value) != 0) {
      return Refuse(At(file, n.Mark()), what, "the quoted text uses escapes");
    }
    span.begin = pos + 1;
    span.end = close;
    span.quote = c;
    return span;
  }
  if (text.compare(pos, span.value.size(), span.value) != 0) {
    return Refuse(At(file, n.Mark()), what, "a plain scalar spread over several lines");
  }
  span.begin = pos;
  span.end = pos + span.value.size();
  return span;
}

Result<std::string> EditScalars(const std::string& file, const std::string& text,
                                const std::vector<ScalarEdit>& edits) {
  struct Placed {
    ScalarSpan span;
    std::string bytes;
  };
  std::vector<Placed> placed;
  for (const auto& e : edits) {
    ASSIGN_OR_RETURN(ScalarSpan span, FindScalar(file, text, e.path));
    std::string bytes;
    if (span.quote == '\'') {
      if (e.value.find('\n') != std::string::npos) {
        return Status::InvalidArgument(file + ":" + std::to_string(span.line) + ": " +
                                       PathText(e.path, e.path.size()) +
                                       ": the new value holds a newline");
      }
      for (char c : e.value) bytes += c == '\'' ? std::string("''") : std::string(1, c);
    } else if (span.quote == '"' || !PlainSafe(e.value)) {
      auto q = DoubleQuoted(e.value);
      if (!q.ok()) {
        return q.status().WithContext(file + ":" + std::to_string(span.line) + ": " +
                                      PathText(e.path, e.path.size()));
      }
      bytes = span.quote == '"' ? *q : "\"" + *q + "\"";
    } else {
      bytes = e.value;
    }
    placed.push_back({span, bytes});
  }
  std::sort(placed.begin(), placed.end(),
            [](const Placed& a, const Placed& b) { return a.span.begin > b.span.begin; });
  for (size_t i = 1; i < placed.size(); ++i) {
    if (placed[i].span.end > placed[i - 1].span.begin) {
      return Status::InvalidArgument(file + ":" + std::to_string(placed[i].span.line) +
                                     ": two edits reach the same scalar");
    }
  }
  std::string out = text;
  for (const auto& p : placed) {
    out.replace(p.span.begin, p.span.end - p.span.begin, p.bytes);
  }
  // The result must be the same document with exactly those scalars changed.
  ASSIGN_OR_RETURN(YAML::Node before, Parse(file, text));
  auto after = Parse(file, out);
  if (!after.ok()) {
    return Status::InvalidArgument("the edited text would not parse (" + after.status().message() +
                                   "); nothing written");
  }
  json want = ToJson(before);
  for (const auto& e : edits) {
    json* j = &want;
    for (const auto& k : e.path) j = &(*j)[k];
    *j = e.value;
  }
  if (ToJson(*after) != want) {
    return Status::InvalidArgument(
        file +
        ": the edit would change more than the named scalars (a value shared through an "
        "anchor/alias?); nothing written");
  }
  return out;
}

Result<std::vector<std::string>> MapKeys(const std::string& file, const std::string& text,
                                         const std::vector<std::string>& path) {
  ASSIGN_OR_RETURN(YAML::Node root, Parse(file, text));
  ASSIGN_OR_RETURN(Walked w, Walk(file, text, root, path));
  if (!w.node.IsMap()) {
    return Status::InvalidArgument(At(file, w.node.Mark()) + ": " + PathText(path, path.size()) +
                                   " is not a mapping");
  }
  std::vector<std::string> keys;
  for (auto it = w.node.begin(); it != w.node.end(); ++it) {
    std::string k = it->first.IsScalar() ? it->first.Scalar() : "";
    if (std::find(keys.begin(), keys.end(), k) != keys.end()) {
      return Status::InvalidArgument(At(file, it->first.Mark()) + ": duplicated key " +
                                     PathText(path, path.size()) + "." + k);
    }
    keys.push_back(k);
  }
  return keys;
}

}  // namespace galley::spec
