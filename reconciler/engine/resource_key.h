// SPDX-License-Identifier: Apache-2.0
// The state store's key of a live object: "marathon-app:<app id>", "consul-kv:<key>" or
// "haproxy-model:<instance>" (an HAProxy instance's LB model, galley/<platform>/haproxy/<instance>)
// or "chronos-job:<job name>" (a Chronos job, ChronosJobName) (store/state_store.h). Agents'
// reports are observed (never written by galley) under "agent-report:<platform>/<node>/<instance>"
// (AgentReportResource). The store keys observations, journal entries, applied records and drift
// records by it; ResourceKey builds one and ParseResourceKey is its inverse, so the prefixes are
// spelled here only. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "model/desired_state.h"

namespace galley::engine {

inline constexpr std::string_view kAppResourcePrefix = "marathon-app:";
inline constexpr std::string_view kKvResourcePrefix = "consul-kv:";
inline constexpr std::string_view kModelResourcePrefix = "haproxy-model:";
inline constexpr std::string_view kJobResourcePrefix = "chronos-job:";
inline constexpr std::string_view kAgentReportResourcePrefix = "agent-report:";

// `target`: the app id, the Consul key, (kHaproxyModel) the instance's name or
// (kChronosJob) the job's Chronos name.
inline std::string ResourceKey(model::ResourceKind kind, std::string_view target) {
  std::string key(kind == model::ResourceKind::kMarathonApp  ? kAppResourcePrefix
                  : kind == model::ResourceKind::kConsulKv   ? kKvResourcePrefix
                  : kind == model::ResourceKind::kChronosJob ? kJobResourcePrefix
                                                             : kModelResourcePrefix);
  key += target;
  return key;
}

// The observation key of an agent's report (not a resource galley writes:
// ParseResourceKey refuses it).
inline std::string AgentReportResource(std::string_view platform, std::string_view node,
                                       std::string_view instance) {
  std::string key(kAgentReportResourcePrefix);
  key += platform;
  key += '/';
  key += node;
  key += '/';
  key += instance;
  return key;
}

struct ParsedResourceKey {
  model::ResourceKind kind;
  std::string target;  // the app id, the Consul key, the HAProxy instance or the job name
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
  if (key.starts_with(kJobResourcePrefix)) {
    return ParsedResourceKey{model::ResourceKind::kChronosJob,
                             std::string(key.substr(kJobResourcePrefix.size()))};
  }
  if (key.starts_with(kModelResourcePrefix)) {
    return ParsedResourceKey{model::ResourceKind::kHaproxyModel,
                             std::string(key.substr(kModelResourcePrefix.size()))};
  }
  return std::nullopt;
}

}  // namespace galley::engine
