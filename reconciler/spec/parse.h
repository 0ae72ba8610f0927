// SPDX-License-Identifier: Apache-2.0
// Turns parsed YAML documents into typed model values, reporting every shape problem
// (types, unknown, duplicate and missing keys, values out of range) as a Diagnostic.
// Cross-file rules live in semantic_check.h. Pure apart from the Diagnostics it fills.
#pragma once

#include <optional>

#include "base/diagnostics.h"
#include "model/desired_state.h"
#include "spec/yaml_source.h"

namespace galley::spec {

// Returns the platform, possibly incomplete when diagnostics were added; nullopt when the
// document is not a mapping at all.
std::optional<model::Platform> ParsePlatform(const YamlDocument& doc, Diagnostics& diags);

// A JSON pointer ("/instances", "/labels/a~1b") that an ignore rule may name: starts with
// '/', '~' only as ~0 or ~1, and not the app's id.
bool IsIgnorablePointer(const std::string& pointer);

// As ParsePlatform, for one services/*.yaml file.
std::optional<model::Service> ParseService(const YamlDocument& doc, Diagnostics& diags);

}  // namespace galley::spec
