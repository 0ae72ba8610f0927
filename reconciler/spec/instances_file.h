// SPDX-License-Identifier: Apache-2.0
// Reads the live instances `render --instances FILE` takes: a JSON object from registered
// service name to the array Consul's /v1/health/service/<name>?passing returns, so curl
// output fits. Entries with a failing check are left out. Problems become Diagnostics
// naming the file and the JSON path. Never throws.
#pragma once

#include <optional>
#include <string>

#include "base/diagnostics.h"
#include "model/desired_state.h"

namespace galley::spec {

std::optional<model::Instances> ParseInstances(const std::string& display_name,
                                               const std::string& text, Diagnostics& diags);
std::optional<model::Instances> LoadInstancesFile(const std::string& path, Diagnostics& diags);

}  // namespace galley::spec
