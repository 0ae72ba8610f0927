// SPDX-License-Identifier: Apache-2.0
// Reader: typed, position-aware access to a parsed YAML document. Every accessor reports
// what is wrong as a Diagnostic ("expected an integer, got a list") and returns nullopt,
// so a parser can keep going and report everything in one pass. Map readers reject unknown
// keys (with "did you mean") and duplicate keys, which yaml-cpp silently accepts. Each node
// visit is charged to a budget so that aliases cannot make a walk exponential.
// Not thread-safe: one Reader per document.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "base/diagnostics.h"
#include "model/desired_state.h"
#include "spec/yaml_source.h"

namespace galley::spec {

struct Field {
  std::string key;
  YAML::Node value;
  SourcePos key_pos;
  SourcePos value_pos;  // falls back to key_pos when the value has no mark (an empty value)
  std::string path;     // "environments.production.tag", for messages
};

struct Item {
  YAML::Node value;
  SourcePos pos;
  std::string path;  // "ports[0]"
};

class Reader {
 public:
  Reader(const YamlDocument& doc, Diagnostics& diags) : doc_(doc), diags_(diags) {}

  const std::string& file() const { return doc_.file; }
  Diagnostics& diags() { return diags_; }
  SourcePos Pos(const YAML::Node& n, const SourcePos& fallback) const;
  Field Root() const;

  // A mapping with a fixed key set. Reports unknown, duplicate and missing required keys.
  // Returns the present fields in document order, or nullopt when `f` is not a mapping.
  std::optional<std::vector<Field>> Map(const Field& f, std::string_view what,
                                        const std::vector<std::string>& allowed,
                                        const std::vector<std::string>& required);
  // A mapping whose keys are names chosen by the user; reports duplicates.
  std::optional<std::vector<Field>> OpenMap(const Field& f, std::string_view what);
  // A list; nullopt when `f` is not a list.
  std::optional<std::vector<Item>> List(const Field& f, std::string_view what);

  std::optional<std::string> String(const Field& f, std::string_view expected = "a string");
  // As String, and an empty string is an error too.
  std::optional<std::string> NonEmptyString(const Field& f, std::string_view expected = "a string");
  std::optional<long long> Int(const Field& f, long long min, long long max);
  std::optional<double> Number(const Field& f, double min, double max, bool min_exclusive);
  std::optional<bool> Bool(const Field& f);
  // "10s", "2m", "1h30m" → seconds, at most `max_hours` hours (24 unless said: timeouts and
  // intervals; retention ages take more).
  std::optional<int> DurationSeconds(const Field& f, int max_hours = 24);
  std::optional<std::vector<std::string>> StringList(const Field& f, std::string_view what);
  // One of a fixed set of words.
  std::optional<std::string> Enum(const Field& f, const std::vector<std::string>& choices);
  // A `policy:` block, the same at every level that allows one (schema/README.md):
  // {drift: revert|report|ignore, prune: bool, marathon_app: {drift, prune},
  //  consul_kv: {drift, prune}}, every key optional. Reports problems and keeps what is valid;
  // nullopt when `f` is not a mapping.
  std::optional<model::PolicyBlock> Policy(const Field& f);

  Field AsField(const Item& item) const {
    return Field{"", item.value, item.pos, item.pos, item.path};
  }

  void Error(const SourcePos& pos, std::string what, std::string expected = {},
             std::string hint = {}) {
    diags_.Error(pos, std::move(what), std::move(expected), std::move(hint));
  }
  void Warning(const SourcePos& pos, std::string what, std::string expected = {},
               std::string hint = {}) {
    diags_.Warning(pos, std::move(what), std::move(expected), std::move(hint));
  }

  // Describes a node for "got ..." in messages: "a list", "a mapping", "'abc'", "nothing".
  static std::string Describe(const YAML::Node& n);

 private:
  bool Charge(const SourcePos& pos);
  bool IsPlainScalar(const YAML::Node& n) const;

  const YamlDocument& doc_;
  Diagnostics& diags_;
  long budget_ = kNodeBudget;
  bool budget_reported_ = false;
};

}  // namespace galley::spec
