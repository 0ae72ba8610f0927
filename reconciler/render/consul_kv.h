// SPDX-License-Identifier: Apache-2.0
// Renders the Consul KV entries galley owns: app/<env>/<service>/<KEY> for every config key
// (service-wide values overridden per environment), and the platform's
// service/haproxy/maxconn. Secret values are not read here: an entry records where the
// value comes from and every printer masks it. Pure.
#pragma once

#include <string>
#include <vector>

#include "model/desired_state.h"

namespace galley::render {

struct KvEntry {
  std::string key;
  model::ConfigValue value;  // literal text, or the secret's source
};

// Entries for one service in one environment, sorted by key.
std::vector<KvEntry> RenderServiceKv(const model::Service& s, const model::ServiceEnvironment& env);
// Platform-wide entries (service/haproxy/maxconn).
std::vector<KvEntry> RenderPlatformKv(const model::Platform& p);

// The value as printed: the literal, or "(sensitive: from $VAR)" / "(sensitive: from file /path)".
std::string DisplayValue(const model::ConfigValue& v);

}  // namespace galley::render
