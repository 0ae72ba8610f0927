// LOCAL STUB (not committed): replaced by chronos-plan's engine/jobs.h on merge.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "base/digest.h"
namespace galley::engine {
inline nlohmann::json NormalizeJob(const nlohmann::json& j) {
  nlohmann::json n = j;
  for (const char* k :
       {"successCount", "errorCount", "errorsSinceLastSuccess", "lastSuccess", "lastError"})
    n.erase(k);
  return n;
}
inline std::string JobDigest(const nlohmann::json& j) {
  return "sha256:" + Sha256Hex(NormalizeJob(j).dump());
}
inline std::string JobActionId(const std::string& name) { return "job:" + name; }
inline std::string HookActionId(const std::string& name) { return "hook:" + name; }
}  // namespace galley::engine
