// SPDX-License-Identifier: Apache-2.0
#include "spec/reader.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>

#include "base/duration.h"
#include "base/strings.h"

namespace galley::spec {
namespace {

std::string JoinPath(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

std::string ShortScalar(const std::string& s) {
  if (s.size() <= 40) return Quote(s);
  return Quote(s.substr(0, 37) + "...");
}

}  // namespace

std::string Reader::Describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "nothing (null)";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      return ShortScalar(n.Scalar());
    case YAML::NodeType::Undefined:
      return "nothing";
  }
  return "something else";
}

SourcePos Reader::Pos(const YAML::Node& n, const SourcePos& fallback) const {
  if (!n.IsDefined()) return fallback;
  YAML::Mark m = n.Mark();
  if (m.is_null()) return fallback;
  return SourcePos{doc_.file, m.line + 1, m.column + 1};
}

Field Reader::Root() const {
  SourcePos pos{doc_.file, 1, 1};
  return Field{"", doc_.root, pos, Pos(doc_.root, pos), ""};
}

bool Reader::Charge(const SourcePos& pos) {
  if (--budget_ >= 0) return true;
  if (!budget_reported_) {
    budget_reported_ = true;
    Error(pos,
          "document is too large to check (more than " + std::to_string(kNodeBudget) +
              " nodes, counting each use of an alias)",
          "a service or platform definition, not a YAML alias expansion");
  }
  return false;
}

bool Reader::IsPlainScalar(const YAML::Node& n) const {
  // yaml-cpp tags plain scalars "?" and quoted ones "!"; an explicit !!str is a string too.
  if (!n.IsScalar()) return false;
  const std::string& tag = n.Tag();
  return tag == "?" || tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
         tag == "tag:yaml.org,2002:bool";
}

std::optional<std::vector<Field>> Reader::Map(const Field& f, std::string_view what,
                                              const std::vector<std::string>& allowed,
                                              const std::vector<std::string>& required) {
  auto fields = OpenMap(f, what);
  if (!fields) return std::nullopt;
  for (const auto& r : required) {
    bool present = false;
    for (const auto& field : *fields) present = present || field.key == r;
    if (!present) {
      Error(f.value_pos, "missing required key " + Quote(r) + " in " + std::string(what));
    }
  }
  std::vector<Field> out;
  for (auto& field : *fields) {
    bool known = false;
    for (const auto& a : allowed) known = known || a == field.key;
    if (!known) {
      std::string suggestion = ClosestMatch(field.key, allowed);
      Error(field.key_pos, "unknown key " + Quote(field.key) + " in " + std::string(what),
            "one of: " + Join(allowed, ", "),
            suggestion.empty() ? "" : "did you mean " + Quote(suggestion) + "?");
      continue;
    }
    out.push_back(std::move(field));
  }
  return out;
}

std::optional<std::vector<Field>> Reader::OpenMap(const Field& f, std::string_view what) {
  if (!Charge(f.value_pos)) return std::nullopt;
  if (!f.value.IsMap()) {
    if (f.path.empty() && f.key.empty()) {
      // The whole file is something else (a list, text: maybe not a galley file at all):
      // none of its content is quoted.
      Error(SourcePos{doc_.file, 0, 0},
            std::string(what) + " must be a mapping, got " +
                (f.value.IsSequence() ? "a list"
                 : f.value.IsScalar() ? "text"
                                      : "nothing"),
            "a mapping of keys to values");
      return std::nullopt;
    }
    Error(f.value_pos, std::string(what) + " must be a mapping, got " + Describe(f.value),
          "a mapping of keys to values");
    return std::nullopt;
  }
  std::vector<Field> out;
  std::map<std::string, SourcePos> seen;
  for (auto it = f.value.begin(); it != f.value.end(); ++it) {
    SourcePos key_pos = Pos(it->first, f.value_pos);
    if (!Charge(key_pos)) return std::nullopt;
    if (!it->first.IsScalar()) {
      Error(key_pos, "a key in " + std::string(what) + " is " + Describe(it->first),
            "a plain string key");
      continue;
    }
    std::string key = it->first.Scalar();
    auto [prev, inserted] = seen.emplace(key, key_pos);
    if (!inserted) {
      Error(key_pos, "duplicate key " + Quote(key) + " in " + std::string(what),
            "each key once; first defined at line " + std::to_string(prev->second.line));
      continue;
    }
    // yaml-cpp marks an empty value ("key:") at the next token, often on a later line;
    // point at the key instead.
    SourcePos value_pos = Pos(it->second, key_pos);
    if (it->second.IsNull() && value_pos.line > key_pos.line) value_pos = key_pos;
    out.push_back(Field{key, it->second, key_pos, value_pos, JoinPath(f.path, key)});
  }
  return out;
}

std::optional<std::vector<Item>> Reader::List(const Field& f, std::string_view what) {
  if (!Charge(f.value_pos)) return std::nullopt;
  if (!f.value.IsSequence()) {
    Error(f.value_pos, std::string(what) + " must be a list, got " + Describe(f.value), "a list");
    return std::nullopt;
  }
  std::vector<Item> out;
  size_t i = 0;
  for (auto it = f.value.begin(); it != f.value.end(); ++it, ++i) {
    SourcePos pos = Pos(*it, f.value_pos);
    if (!Charge(pos)) return std::nullopt;
    out.push_back(Item{*it, pos, f.path + "[" + std::to_string(i) + "]"});
  }
  return out;
}

std::optional<std::string> Reader::String(const Field& f, std::string_view expected) {
  if (!Charge(f.value_pos)) return std::nullopt;
  if (!f.value.IsScalar()) {
    Error(f.value_pos, f.path + " must be a string, got " + Describe(f.value),
          std::string(expected));
    return std::nullopt;
  }
  return f.value.Scalar();
}

std::optional<std::string> Reader::NonEmptyString(const Field& f, std::string_view expected) {
  auto s = String(f, expected);
  if (s && s->empty()) {
    Error(f.value_pos, f.path + " is empty", std::string(expected));
    return std::nullopt;
  }
  return s;
}

std::optional<long long> Reader::Int(const Field& f, long long min, long long max) {
  if (!Charge(f.value_pos)) return std::nullopt;
  std::string range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (!IsPlainScalar(f.value)) {
    Error(f.value_pos,
          f.path + " must be an integer, got " + Describe(f.value) +
              (f.value.IsScalar() ? " (quoted)" : ""),
          range);
    return std::nullopt;
  }
  const std::string& s = f.value.Scalar();
  long long v = 0;
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  if (!s.empty() && s[0] == '+') ++begin;
  auto [ptr, ec] = std::from_chars(begin, end, v);
  bool whole = ptr == end && begin != end;
  if (whole && ec == std::errc::result_out_of_range) {
    Error(f.value_pos, f.path + " is out of range: " + s, range);
    return std::nullopt;
  }
  if (!whole || ec != std::errc()) {
    Error(f.value_pos, f.path + " must be an integer, got " + Describe(f.value), range);
    return std::nullopt;
  }
  if (v < min || v > max) {
    Error(f.value_pos, f.path + " is out of range: " + s, range);
    return std::nullopt;
  }
  return v;
}

std::optional<double> Reader::Number(const Field& f, double min, double max, bool min_exclusive) {
  if (!Charge(f.value_pos)) return std::nullopt;
  char range[128];
  std::snprintf(range, sizeof range, "a number %s %g and at most %g",
                min_exclusive ? "greater than" : "of at least", min, max);
  if (!IsPlainScalar(f.value)) {
    Error(f.value_pos, f.path + " must be a number, got " + Describe(f.value), range);
    return std::nullopt;
  }
  const std::string& s = f.value.Scalar();
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  bool digits_only = s.find_first_not_of("0123456789.+-eE") == std::string::npos;
  if (s.empty() || end != s.c_str() + s.size() || !digits_only || !std::isfinite(v)) {
    Error(f.value_pos, f.path + " must be a number, got " + Describe(f.value), range);
    return std::nullopt;
  }
  if (v > max || v < min || (min_exclusive && v == min)) {
    Error(f.value_pos, f.path + " is out of range: " + s, range);
    return std::nullopt;
  }
  return v;
}

std::optional<bool> Reader::Bool(const Field& f) {
  if (!Charge(f.value_pos)) return std::nullopt;
  if (IsPlainScalar(f.value)) {
    if (f.value.Scalar() == "true") return true;
    if (f.value.Scalar() == "false") return false;
  }
  Error(f.value_pos, f.path + " must be true or false, got " + Describe(f.value), "true or false");
  return std::nullopt;
}

std::optional<int> Reader::DurationSeconds(const Field& f) {
  if (!Charge(f.value_pos)) return std::nullopt;
  const char* expected = "a duration in whole seconds such as 10s, 2m or 1h30m";
  if (!f.value.IsScalar()) {
    Error(f.value_pos, f.path + " must be a duration, got " + Describe(f.value), expected);
    return std::nullopt;
  }
  const std::string& s = f.value.Scalar();
  // galley's one duration grammar, as for the CLI's flags (base/duration.h).
  auto parsed = ParseDuration(s);
  if (!parsed.ok()) {
    bool subsecond = false;  // "500ms", "10us": a Go duration in a unit galley does not take
    for (const char* unit : {"ms", "us", "ns", "\xC2\xB5s", "\xCE\xBCs"})
      subsecond |= s.find(unit) != std::string::npos;
    if (subsecond && ParseGoDuration(s).ok()) {
      Error(f.value_pos, f.path + " is " + Quote(s) + ": Marathon counts whole seconds", expected);
      return std::nullopt;
    }
    std::string hint;
    if (!s.empty() && IsPlainScalar(f.value) &&
        s.find_first_not_of("0123456789") == std::string::npos) {
      hint = "did you mean " + Quote(s + "s") + "?";
    }
    Error(f.value_pos, f.path + " must be a duration, got " + Describe(f.value), expected, hint);
    return std::nullopt;
  }
  long long total = parsed->count();
  if (total > 24 * 3600) {
    Error(f.value_pos, f.path + " is out of range: " + s, "at most 24h");
    return std::nullopt;
  }
  return static_cast<int>(total);
}

std::optional<std::vector<std::string>> Reader::StringList(const Field& f, std::string_view what) {
  auto items = List(f, what);
  if (!items) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  for (const auto& item : *items) {
    auto s = String(AsField(item));
    if (s) {
      out.push_back(*s);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::string> Reader::Enum(const Field& f, const std::vector<std::string>& choices) {
  if (!Charge(f.value_pos)) return std::nullopt;
  std::string expected = "one of: " + Join(choices, ", ");
  if (!f.value.IsScalar()) {
    Error(f.value_pos, f.path + " must be a string, got " + Describe(f.value), expected);
    return std::nullopt;
  }
  const std::string& s = f.value.Scalar();
  for (const auto& c : choices) {
    if (c == s) return s;
  }
  std::string suggestion = ClosestMatch(s, choices);
  Error(f.value_pos, f.path + " has an unknown value " + Quote(s), expected,
        suggestion.empty() ? "" : "did you mean " + Quote(suggestion) + "?");
  return std::nullopt;
}

std::optional<model::PolicyBlock> Reader::Policy(const Field& f) {
  auto fields = Map(f, f.path, {"drift", "prune", "marathon_app", "consul_kv", "chronos_job"}, {});
  if (!fields) return std::nullopt;
  model::PolicyBlock block;
  auto setting = [this](const Field& k, model::PolicySetting& out) {
    if (k.key == "drift") {
      if (auto s = Enum(k, {"revert", "report", "ignore"})) {
        out.drift = *s == "revert"   ? model::DriftPolicy::kRevert
                    : *s == "report" ? model::DriftPolicy::kReport
                                     : model::DriftPolicy::kIgnore;
      }
    } else if (k.key == "prune") {
      if (auto b = Bool(k)) out.prune = *b;
    }
  };
  for (const auto& k : *fields) {
    if (k.key == "marathon_app" || k.key == "consul_kv" || k.key == "chronos_job") {
      auto sub = Map(k, k.path, {"drift", "prune"}, {});
      if (!sub) continue;
      for (const auto& g : *sub)
        setting(g, k.key == "marathon_app"  ? block.marathon_app
                   : k.key == "chronos_job" ? block.chronos_job
                                            : block.consul_kv);
    } else {
      setting(k, block.all);
    }
  }
  return block;
}

}  // namespace galley::spec
