// SPDX-License-Identifier: Apache-2.0
// The state store's key of a live object: "marathon-app:<app id>" or "consul-kv:<key>"
// (store/state_store.h). The store keys observations, journal entries, applied records and
// drift records by it; ResourceKey builds one and ParseResourceKey is its inverse, so the
// prefixes are spelled here only. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "model/desired_state.h"

namespace galley::engine {

inline constexpr std::string_view kAppResourcePrefix = "marathon-app:";
inline constexpr std::string_view kKvResourcePrefix = "consul-kv:";

inline std::string ResourceKey(model::ResourceKind kind, std::string_view target) {
  std::string key(kind == model::ResourceKind::kMarathonApp ? kAppResourcePrefix
                                                            : kKvResourcePrefix);
  key += target;
  return key;
}

struct ParsedResourceKey {
  model::ResourceKind kind;
  std::string target;  // the app id or the Consul key
};

// nullopt for a key of neither kind.
inline std::optional<ParsedResourceKey> ParseResourceKey(std::string_view key) {
  if (key.starts_with(kAppResourcePrefix)) {
    return ParsedResourceKey{model::ResourceKind::kMarathonApp,
                             std::string(key.substr(kAppResourcePrefix.size()))};
  }
  if (key.starts_with(kKvResourcePrefix)) {
    return ParsedResourceKey{model::ResourceKind::kConsulKv,
                             std::string(key.substr(kKvResourcePrefix.size()))};
  }
  return std::nullopt;
}

}  // namespace galley::engine
