// SPDX-License-Identifier: Apache-2.0
#include "render/consul_kv.h"

#include <map>

#include "render/marathon_app.h"

namespace galley::render {

std::vector<KvEntry> RenderServiceKv(const model::Service& s,
                                     const model::ServiceEnvironment& env) {
  std::map<std::string, model::ConfigValue> merged = s.config;
  for (const auto& [k, v] : env.config) merged[k] = v;
  std::vector<KvEntry> out;
  std::string prefix = KvPrefix(env.name, s.name) + "/";
  for (const auto& [k, v] : merged) out.push_back(KvEntry{prefix + k, v});
  return out;
}

std::vector<KvEntry> RenderPlatformKv(const model::Platform& p) {
  model::ConfigValue v;
  v.text = std::to_string(p.haproxy_maxconn);
  return {KvEntry{model::kHaproxyMaxconnKey, v}};
}

std::string DisplayValue(const model::ConfigValue& v) {
  switch (v.source) {
    case model::ConfigValue::Source::kLiteral:
      return v.text;
    case model::ConfigValue::Source::kSecretEnv:
      return "(sensitive: from $" + v.text + ")";
    case model::ConfigValue::Source::kSecretFile:
      return "(sensitive: from file " + v.text + ")";
  }
  return "(sensitive)";
}

}  // namespace galley::render
