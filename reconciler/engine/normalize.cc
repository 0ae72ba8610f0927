// SPDX-License-Identifier: Apache-2.0
#include "engine/normalize.h"

#include <algorithm>
#include <initializer_list>

namespace galley::engine {
namespace {

using json = nlohmann::json;

bool IsEmptyCollection(const json& v) {
  return v.is_null() || ((v.is_array() || v.is_object()) && v.empty());
}

// Removes `key` when its value equals any of `defaults`.
void DropIfDefault(json& obj, const char* key, std::initializer_list<json> defaults) {
  auto it = obj.find(key);
  if (it == obj.end()) return;
  for (const auto& d : defaults) {
    if (*it == d) {
      obj.erase(it);
      return;
    }
  }
}

void DropIfEmpty(json& obj, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    auto it = obj.find(k);
    if (it != obj.end() && IsEmptyCollection(*it)) obj.erase(it);
  }
}

void DropNulls(json& obj) {
  for (auto it = obj.begin(); it != obj.end();) {
    if (it->is_null()) {
      it = obj.erase(it);
    } else {
      ++it;
    }
  }
}

std::string CanonicalId(const std::string& id) {
  std::string out;
  for (size_t i = 0; i < id.size(); ++i) {
    if (id[i] == '/' && (out.empty() ? false : out.back() == '/')) continue;  // collapse "//"
    out += id[i];
  }
  if (out.empty() || out[0] != '/') out = "/" + out;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

void NormalizePortMapping(json& pm, bool bridge) {
  if (!pm.is_object()) return;
  DropNulls(pm);
  pm.erase("servicePort");  // assigned by the server; galley never pins service ports
  DropIfDefault(pm, "protocol", {"tcp"});
  DropIfDefault(pm, "containerPort", {0});
  if (bridge) DropIfDefault(pm, "hostPort", {0});
  DropIfDefault(pm, "name", {"default"});
  DropIfEmpty(pm, {"labels", "networkNames"});
}

void NormalizePortDefinition(json& pd) {
  if (!pd.is_object()) return;
  DropNulls(pd);
  pd.erase("port");  // 0 (any) in galley's definitions; the server assigns 10000+
  DropIfDefault(pd, "protocol", {"tcp"});
  DropIfDefault(pd, "name", {"default"});
  DropIfEmpty(pd, {"labels"});
}

void NormalizeHealthCheck(json& hc, bool app_has_ports) {
  if (!hc.is_object()) return;
  DropNulls(hc);
  if (!hc.contains("protocol")) hc["protocol"] = "HTTP";
  std::string protocol =
      hc["protocol"].is_string() ? hc["protocol"].get<std::string>() : "";  // checked type
  if (protocol != "COMMAND" && !hc.contains("port") && !hc.contains("portIndex") && app_has_ports)
    hc["portIndex"] = 0;
  DropIfDefault(hc, "portIndex", {0});
  DropIfDefault(hc, "protocol", {"HTTP"});
  DropIfDefault(hc, "gracePeriodSeconds", {300});
  DropIfDefault(hc, "intervalSeconds", {60});
  DropIfDefault(hc, "timeoutSeconds", {20});
  DropIfDefault(hc, "maxConsecutiveFailures", {3});
  DropIfDefault(hc, "delaySeconds", {15});
  DropIfDefault(hc, "ipProtocol", {"IPv4"});
  DropIfDefault(hc, "ignoreHttp1xx", {false});
  DropIfDefault(hc, "path", {"", "/"});
}

// 1.4 → 1.5+: container.docker.network/portMappings and ipAddress become networks and
// container.portMappings; ports becomes portDefinitions; uris becomes fetch.
void TranslateDeprecated(json& app) {
  if (app.contains("ports") && !app.contains("portDefinitions") && app["ports"].is_array()) {
    json defs = json::array();
    for (const auto& p : app["ports"]) defs.push_back(json{{"port", p}});
    app["portDefinitions"] = defs;
  }
  app.erase("ports");
  if (app.contains("uris") && app["uris"].is_array() && !app["uris"].empty() &&
      !app.contains("fetch")) {
    json fetch = json::array();
    for (const auto& u : app["uris"]) fetch.push_back(json{{"uri", u}});
    app["fetch"] = fetch;
  }
  app.erase("uris");
  app.erase("storeUrls");
  json* docker = nullptr;
  if (app.contains("container") && app["container"].is_object() &&
      app["container"].contains("docker") && app["container"]["docker"].is_object()) {
    docker = &app["container"]["docker"];
  }
  if (docker && docker->contains("network") && (*docker)["network"].is_string() &&
      !app.contains("networks")) {
    std::string net = (*docker)["network"].get<std::string>();
    if (net == "BRIDGE") {
      app["networks"] = json::array({json{{"mode", "container/bridge"}}});
    } else if (net == "HOST") {
      app["networks"] = json::array({json{{"mode", "host"}}});
    } else if (net == "USER") {
      json n{{"mode", "container"}};
      if (app.contains("ipAddress") && app["ipAddress"].is_object() &&
          app["ipAddress"].contains("networkName")) {
        n["name"] = app["ipAddress"]["networkName"];
      }
      app["networks"] = json::array({n});
    }
  }
  if (docker) {
    docker->erase("network");
    if (docker->contains("portMappings")) {
      if (!app["container"].contains("portMappings") && (*docker)["portMappings"].is_array()) {
        app["container"]["portMappings"] = (*docker)["portMappings"];
      }
      docker->erase("portMappings");
    }
  }
  app.erase("ipAddress");
}

}  // namespace

json NormalizeApp(const json& input) {
  if (!input.is_object()) return input;
  json app = input;
  DropNulls(app);
  for (const char* k : {"version", "versionInfo", "tasks", "tasksStaged", "tasksRunning",
                        "tasksHealthy", "tasksUnhealthy", "deployments", "lastTaskFailure",
                        "readinessCheckResults", "tasksStats", "taskStats", "role", "residency"}) {
    app.erase(k);
  }
  if (app.contains("id") && app["id"].is_string())
    app["id"] = CanonicalId(app["id"].get<std::string>());
  TranslateDeprecated(app);

  // Networking decides which port fields exist (the server drops the other kind).
  if (!app.contains("networks") || !app["networks"].is_array() ||
      IsEmptyCollection(app["networks"])) {
    app["networks"] = json::array({json{{"mode", "host"}}});
  }
  for (auto& n : app["networks"]) {
    if (n.is_object()) {
      DropNulls(n);
      if (!n.contains("mode")) n["mode"] = "container";
      DropIfEmpty(n, {"labels"});
    }
  }
  auto mode_of = [&](size_t i) -> std::string {
    const json& n = app["networks"][i];
    return n.is_object() && n.contains("mode") && n["mode"].is_string()
               ? n["mode"].get<std::string>()
               : "";
  };
  bool host = app["networks"].size() == 1 && mode_of(0) == "host";
  bool bridge = app["networks"].size() == 1 && mode_of(0) == "container/bridge";

  bool has_ports = false;
  if (host) {
    if (!app.contains("portDefinitions")) app["portDefinitions"] = json::array({json{{"port", 0}}});
    if (app["portDefinitions"].is_array()) {
      for (auto& pd : app["portDefinitions"]) NormalizePortDefinition(pd);
      has_ports = !app["portDefinitions"].empty();
      // The default: one port, any number, tcp, named "default".
      if (app["portDefinitions"] == json::array({json::object()})) app.erase("portDefinitions");
    }
    if (app.contains("container") && app["container"].is_object())
      app["container"].erase("portMappings");
  } else {
    app.erase("portDefinitions");
  }
  app.erase("requirePorts");  // forced false off host networking; galley never sets it

  if (app.contains("container") && app["container"].is_object()) {
    json& c = app["container"];
    DropNulls(c);
    DropIfDefault(c, "type", {"DOCKER"});
    if (!host) {
      if (!c.contains("portMappings") || c["portMappings"].is_null()) {
        c["portMappings"] = json::array({json::object()});
      }
      for (auto& pm : c["portMappings"]) NormalizePortMapping(pm, bridge);
      has_ports = has_ports || !c["portMappings"].empty();
      if (c["portMappings"] == json::array({json::object()})) c.erase("portMappings");
    }
    if (c.contains("docker") && c["docker"].is_object()) {
      json& d = c["docker"];
      DropNulls(d);
      DropIfDefault(d, "forcePullImage", {false});
      DropIfDefault(d, "privileged", {false});
      DropIfEmpty(d, {"parameters"});
    }
    DropIfEmpty(c, {"volumes"});
    if (c.empty()) app.erase("container");
  }

  if (app.contains("healthChecks") && app["healthChecks"].is_array()) {
    for (auto& hc : app["healthChecks"]) NormalizeHealthCheck(hc, has_ports);
  }
  if (app.contains("fetch") && app["fetch"].is_array()) {
    for (auto& f : app["fetch"]) {
      if (!f.is_object()) continue;
      DropNulls(f);
      DropIfDefault(f, "extract", {true});
      DropIfDefault(f, "executable", {false});
      DropIfDefault(f, "cache", {false});
    }
  }
  if (app["networks"] == json::array({json{{"mode", "host"}}})) app.erase("networks");

  DropIfDefault(app, "instances", {1});
  DropIfDefault(app, "cpus", {1.0});
  DropIfDefault(app, "mem", {128.0});
  DropIfDefault(app, "disk", {0.0});
  DropIfDefault(app, "gpus", {0});
  DropIfDefault(app, "executor", {""});
  DropIfDefault(app, "backoffSeconds", {1});
  DropIfDefault(app, "backoffFactor", {1.15});
  DropIfDefault(app, "maxLaunchDelaySeconds", {300, 3600});  // 1.8+ / up to 1.7
  DropIfDefault(app, "killSelection", {"YOUNGEST_FIRST"});
  DropIfDefault(app, "upgradeStrategy",
                {json{{"minimumHealthCapacity", 1.0}, {"maximumOverCapacity", 1.0}}});
  DropIfDefault(app, "unreachableStrategy",
                {json{{"inactiveAfterSeconds", 0}, {"expungeAfterSeconds", 0}},
                 json{{"inactiveAfterSeconds", 300}, {"expungeAfterSeconds", 600}}});
  DropIfEmpty(app, {"env", "labels", "secrets", "constraints", "dependencies", "args",
                    "acceptedResourceRoles", "fetch", "healthChecks", "readinessChecks",
                    "executorResources", "resourceLimits"});
  DropIfDefault(app, "cmd", {""});
  // Marathon keeps these as sets: the order it returns them in means nothing.
  for (const char* k : {"healthChecks", "constraints", "acceptedResourceRoles"}) {
    auto it = app.find(k);
    if (it == app.end() || !it->is_array()) continue;
    std::sort(it->begin(), it->end(),
              [](const json& a, const json& b) { return a.dump() < b.dump(); });
  }
  return app;
}

void RemovePointers(json& doc, const std::vector<std::string>& pointers) {
  for (const auto& p : pointers) {
    try {
      json::json_pointer ptr(p);
      if (ptr.empty() || !doc.contains(ptr)) continue;
      json& parent = doc.at(ptr.parent_pointer());
      const std::string last = ptr.back();
      if (parent.is_object()) {
        parent.erase(last);
      } else if (parent.is_array()) {
        size_t i = std::stoul(last);
        if (i < parent.size()) parent.erase(i);
      }
    } catch (const std::exception&) {
      // A malformed pointer is reported by validation; here it simply matches nothing.
    }
  }
}

}  // namespace galley::engine
