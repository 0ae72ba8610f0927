// SPDX-License-Identifier: Apache-2.0
#include "render/marathon_app.h"

#include "base/strings.h"

namespace galley::render {

std::string MarathonAppId(const std::string& env, const std::string& service) {
  return std::string("/") + model::kAppRoot + "/" + env + "/" + service;
}

std::string KvPrefix(const std::string& env, const std::string& service) {
  return std::string(model::kAppRoot) + "/" + env + "/" + service;
}

std::string ImageReference(const model::Platform& p, const model::Service& s,
                           const std::string& tag) {
  const std::string& registry = s.registry.empty() ? p.registry : s.registry;
  std::string ref = registry.empty() ? s.image : registry + "/" + s.image;
  return ref + ":" + tag;
}

std::string ServiceTags(const model::Service& s, const std::string& env) {
  std::vector<std::string> tags{env};
  for (const auto& port : s.ExposedPorts()) {
    tags.push_back(std::string("internal-listen-") + model::ExposeName(port.expose) + "-" +
                   std::to_string(port.container));
  }
  if (!s.balance.empty()) tags.push_back("balance-" + s.balance);
  tags.insert(tags.end(), s.tags.begin(), s.tags.end());
  return Join(tags, ",");
}

nlohmann::ordered_json RenderMarathonApp(const model::Platform& p, const model::Service& s,
                                         const model::ServiceEnvironment& env) {
  using json = nlohmann::ordered_json;
  const model::Resources& res = env.resources ? *env.resources : s.resources;
  json app;
  app["id"] = MarathonAppId(env.name, s.name);
  app["labels"] = json{{"version", env.tag}, {"environment", env.name}, {kLabelPlatform, p.name}};
  app["env"] = json{{"SERVICE_TAGS", ServiceTags(s, env.name)}, {"SERVICE_NAME", s.name}};
  app["cpus"] = res.cpus;
  app["mem"] = res.mem;
  if (res.disk) app["disk"] = *res.disk;
  app["instances"] = env.instances;
  json args = json::array();
  for (const auto& w : p.wrapper) args.push_back(w);
  args.push_back(KvPrefix(env.name, s.name));
  for (const auto& c : s.command) args.push_back(c);
  app["args"] = args;
  json mappings = json::array();
  for (const auto& port : s.ports) mappings.push_back(json{{"containerPort", port.container}});
  app["container"] = json{{"type", "DOCKER"},
                          {"docker", json{{"image", ImageReference(p, s, env.tag)},
                                          {"forcePullImage", true},
                                          {"network", "BRIDGE"},
                                          {"portMappings", mappings}}}};
  if (s.health) {
    json hc;
    hc["protocol"] = s.health->path.empty() ? "TCP" : "HTTP";
    if (!s.health->path.empty()) hc["path"] = s.health->path;
    hc["gracePeriodSeconds"] = s.health->grace_s;
    hc["intervalSeconds"] = s.health->interval_s;
    if (s.health->timeout_s) hc["timeoutSeconds"] = *s.health->timeout_s;
    hc["maxConsecutiveFailures"] = s.health->max_failures;
    app["healthChecks"] = json::array({hc});
  }
  if (s.upgrade) {
    app["upgradeStrategy"] = json{{"minimumHealthCapacity", s.upgrade->min_health},
                                  {"maximumOverCapacity", s.upgrade->max_over}};
  }
  if (s.kill_grace_s) app["taskKillGracePeriodSeconds"] = *s.kill_grace_s;
  return app;
}

}  // namespace galley::render
