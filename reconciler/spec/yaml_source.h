// SPDX-License-Identifier: Apache-2.0
// Reads one YAML file defensively: bounded size, valid UTF-8, no binary, no tab indentation,
// one document, nesting bounded (yaml-cpp's parser refuses depth > 2000 itself; galley's
// schema is far shallower and the readers stop at kMaxDepth). Every problem becomes a
// Diagnostic with file:line:col; yaml-cpp's exceptions never escape. Not thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <yaml-cpp/yaml.h>

#include "base/diagnostics.h"

namespace galley::spec {

inline constexpr size_t kMaxFileBytes = 1 << 20;  // 1 MiB: a service file is a few hundred bytes
inline constexpr int kMaxDepth = 32;              // nesting the readers will descend into
inline constexpr long kNodeBudget = 200000;       // node visits per file (alias bombs)

struct YamlDocument {
  std::string file;  // display name used in diagnostics
  std::shared_ptr<const std::string> text;
  YAML::Node root;
};

// Parses `text` (already read) as the file `display_name`. Returns nullopt after adding
// diagnostics when the text is not one well-formed YAML document.
std::optional<YamlDocument> ParseYaml(const std::string& display_name, std::string text,
                                      Diagnostics& diags);

// Reads and parses the file at `path`, reported as `display_name`.
std::optional<YamlDocument> LoadYamlFile(const std::string& path, const std::string& display_name,
                                         Diagnostics& diags);

}  // namespace galley::spec
