// SPDX-License-Identifier: Apache-2.0
#include "sandbox/marathon/app_normalise.h"

#include <cmath>
#include <cstdint>
#include <set>

#include "sandbox/marathon/path_id.h"

namespace galley::sandbox::marathon {

void Problems::Add(const std::string& path, const std::string& error) {
  auto it = errors_.find(path);
  if (it == errors_.end()) {
    order_.push_back(path);
    errors_[path].push_back(error);
    return;
  }
  for (const auto& e : it->second) {
    if (e == error) return;
  }
  it->second.push_back(error);
}

Json Problems::Details() const {
  Json out = Json::array();
  for (const auto& p : order_) out.push_back({{"path", p}, {"errors", errors_.at(p)}});
  return out;
}

ApiError Problems::ToError(const std::string& message) const {
  return ApiError{422, Json{{"message", message}, {"details", Details()}}};
}

namespace {

const char* const kReadOnlyKeys[] = {"versionInfo",  "tasks",           "tasksStaged",
                                     "tasksRunning", "tasksHealthy",    "tasksUnhealthy",
                                     "deployments",  "lastTaskFailure", "readinessCheckResults",
                                     "taskStats",    "tasksStats"};

bool IsInt(const Json& j) {
  if (j.is_number_integer()) return true;
  if (j.is_number_float()) {
    double d = j.get<double>();
    return std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9e15;
  }
  return false;
}

int64_t AsInt(const Json& j) {
  if (j.is_number_integer()) return j.get<int64_t>();
  return static_cast<int64_t>(j.get<double>());
}

// A JSON number kept integral when it is one ("1" instead of "1.0").
Json Number(double d) {
  if (std::floor(d) == d && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
  return d;
}

std::string Idx(const std::string& path, size_t i) { return path + "(" + std::to_string(i) + ")"; }

enum class Kind { kString, kNumber, kInt, kBool, kArray, kObject, kStringArray, kStringMap };

const char* ExpectedCode(Kind k) {
  switch (k) {
    case Kind::kString:
      return "error.expected.jsstring";
    case Kind::kNumber:
    case Kind::kInt:
      return "error.expected.jsnumber";
    case Kind::kBool:
      return "error.expected.jsboolean";
    case Kind::kArray:
    case Kind::kStringArray:
      return "error.expected.jsarray";
    case Kind::kObject:
    case Kind::kStringMap:
      return "error.expected.jsobject";
  }
  return "error.expected.jsvalue";
}

void CheckKind(const Json& v, Kind k, const std::string& path, Problems* p) {
  bool ok = false;
  switch (k) {
    case Kind::kString:
      ok = v.is_string();
      break;
    case Kind::kNumber:
      ok = v.is_number();
      break;
    case Kind::kInt:
      ok = v.is_number();
      // RAML "integer, format int32": Play answers error.expected.int outside Int's range.
      if (ok && (!IsInt(v) || AsInt(v) < INT32_MIN || AsInt(v) > INT32_MAX)) {
        p->Add(path, "error.expected.int");
        return;
      }
      break;
    case Kind::kBool:
      ok = v.is_boolean();
      break;
    case Kind::kArray:
      ok = v.is_array();
      break;
    case Kind::kObject:
      ok = v.is_object();
      break;
    case Kind::kStringArray:
      ok = v.is_array();
      if (ok) {
        for (size_t i = 0; i < v.size(); ++i) {
          if (!v[i].is_string()) p->Add(Idx(path, i), "error.expected.jsstring");
        }
      }
      break;
    case Kind::kStringMap:
      ok = v.is_object();
      if (ok) {
        for (auto it = v.begin(); it != v.end(); ++it) {
          if (!it.value().is_string()) p->Add(path + "/" + it.key(), "error.expected.jsstring");
        }
      }
      break;
  }
  if (!ok) p->Add(path, ExpectedCode(k));
}

void CheckObjectFields(const Json& obj, const std::string& path,
                       std::initializer_list<std::pair<const char*, Kind>> fields, Problems* p) {
  if (!obj.is_object()) {
    p->Add(path, "error.expected.jsobject");
    return;
  }
  for (const auto& [name, kind] : fields) {
    auto it = obj.find(name);
    if (it != obj.end() && !it->is_null()) CheckKind(*it, kind, path + "/" + name, p);
  }
}

void RemoveNulls(Json& j) {
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end();) {
    if (it->is_null()) {
      it = j.erase(it);
    } else {
      ++it;
    }
  }
}

bool IsExtractable(const std::string& uri) {
  for (const char* ext :
       {".tar", ".tar.gz", ".tar.bz2", ".tar.xz", ".gz", ".tgz", ".tbz2", ".txz", ".zip"}) {
    std::string e(ext);
    if (uri.size() >= e.size() && uri.compare(uri.size() - e.size(), e.size(), e) == 0) return true;
  }
  return false;
}

bool HasPersistentVolumes(const Json& app) {
  auto c = app.find("container");
  if (c == app.end() || !c->is_object()) return false;
  auto v = c->find("volumes");
  if (v == c->end() || !v->is_array()) return false;
  for (const auto& vol : *v) {
    if (vol.is_object() && (vol.contains("persistent") || vol.contains("external"))) return true;
  }
  return false;
}

Json NormalisePortMapping(const Json& in, bool bridge) {
  Json pm = Json::object();
  pm["containerPort"] = in.value("containerPort", Json(0));
  if (in.contains("hostPort")) {
    pm["hostPort"] = in["hostPort"];
  } else if (bridge) {
    pm["hostPort"] = 0;
  }
  pm["servicePort"] = in.value("servicePort", Json(0));
  pm["protocol"] = in.value("protocol", Json("tcp"));
  if (in.contains("name")) pm["name"] = in["name"];
  pm["labels"] = in.contains("labels") && in["labels"].is_object() ? in["labels"] : Json::object();
  if (in.contains("networkNames")) pm["networkNames"] = in["networkNames"];
  return pm;
}

}  // namespace

void StripReadOnlyAndNulls(Json& app) {
  if (!app.is_object()) return;
  RemoveNulls(app);
  for (const char* k : kReadOnlyKeys) app.erase(k);
}

void CheckAppTypes(const Json& app, const std::string& prefix, Problems* p) {
  if (!app.is_object()) {
    p->Add(prefix.empty() ? "/" : prefix, "error.expected.jsobject");
    return;
  }
  CheckObjectFields(app, prefix,
                    {{"id", Kind::kString},
                     {"cmd", Kind::kString},
                     {"args", Kind::kStringArray},
                     {"user", Kind::kString},
                     {"env", Kind::kObject},
                     {"instances", Kind::kInt},
                     {"cpus", Kind::kNumber},
                     {"mem", Kind::kNumber},
                     {"disk", Kind::kNumber},
                     {"gpus", Kind::kInt},
                     {"executor", Kind::kString},
                     {"constraints", Kind::kArray},
                     {"uris", Kind::kStringArray},
                     {"fetch", Kind::kArray},
                     {"storeUrls", Kind::kStringArray},
                     {"ports", Kind::kArray},
                     {"portDefinitions", Kind::kArray},
                     {"requirePorts", Kind::kBool},
                     {"backoffSeconds", Kind::kInt},
                     {"backoffFactor", Kind::kNumber},
                     {"maxLaunchDelaySeconds", Kind::kInt},
                     {"container", Kind::kObject},
                     {"healthChecks", Kind::kArray},
                     {"readinessChecks", Kind::kArray},
                     {"dependencies", Kind::kStringArray},
                     {"upgradeStrategy", Kind::kObject},
                     {"labels", Kind::kStringMap},
                     {"acceptedResourceRoles", Kind::kStringArray},
                     {"ipAddress", Kind::kObject},
                     {"version", Kind::kString},
                     {"secrets", Kind::kObject},
                     {"taskKillGracePeriodSeconds", Kind::kInt},
                     {"killSelection", Kind::kString},
                     {"networks", Kind::kArray},
                     {"tty", Kind::kBool},
                     {"role", Kind::kString},
                     {"check", Kind::kObject}},
                    p);
  if (auto it = app.find("env"); it != app.end() && it->is_object()) {
    for (auto e = it->begin(); e != it->end(); ++e) {
      if (!e->is_string() && !(e->is_object() && e->contains("secret"))) {
        p->Add(prefix + "/env/" + e.key(), "error.expected.jsstring");
      }
    }
  }
  if (auto it = app.find("constraints"); it != app.end() && it->is_array()) {
    for (size_t i = 0; i < it->size(); ++i)
      CheckKind((*it)[i], Kind::kStringArray, Idx(prefix + "/constraints", i), p);
  }
  if (auto it = app.find("ports"); it != app.end() && it->is_array()) {
    for (size_t i = 0; i < it->size(); ++i)
      CheckKind((*it)[i], Kind::kInt, Idx(prefix + "/ports", i), p);
  }
  if (auto it = app.find("portDefinitions"); it != app.end() && it->is_array()) {
    for (size_t i = 0; i < it->size(); ++i) {
      CheckObjectFields((*it)[i], Idx(prefix + "/portDefinitions", i),
                        {{"port", Kind::kInt},
                         {"protocol", Kind::kString},
                         {"name", Kind::kString},
                         {"labels", Kind::kStringMap}},
                        p);
    }
  }
  if (auto it = app.find("healthChecks"); it != app.end() && it->is_array()) {
    for (size_t i = 0; i < it->size(); ++i) {
      CheckObjectFields((*it)[i], Idx(prefix + "/healthChecks", i),
                        {{"protocol", Kind::kString},
                         {"path", Kind::kString},
                         {"portIndex", Kind::kInt},
                         {"port", Kind::kInt},
                         {"gracePeriodSeconds", Kind::kInt},
                         {"intervalSeconds", Kind::kInt},
                         {"timeoutSeconds", Kind::kInt},
                         {"maxConsecutiveFailures", Kind::kInt},
                         {"delaySeconds", Kind::kInt},
                         {"ignoreHttp1xx", Kind::kBool},
                         {"ipProtocol", Kind::kString},
                         {"command", Kind::kObject}},
                        p);
    }
  }
  if (auto it = app.find("upgradeStrategy"); it != app.end() && it->is_object()) {
    for (const char* f : {"minimumHealthCapacity", "maximumOverCapacity"}) {
      auto v = it->find(f);
      std::string path = prefix + "/upgradeStrategy/" + f;
      if (v == it->end() || v->is_null()) {
        p->Add(path, "error.path.missing");
      } else if (!v->is_number()) {
        p->Add(path, "error.expected.jsnumber");
      }
    }
  }
  if (auto it = app.find("unreachableStrategy"); it != app.end() && !it->is_null()) {
    if (it->is_string()) {
      if (*it != "disabled") p->Add(prefix + "/unreachableStrategy", "error.expected.jsobject");
    } else {
      CheckObjectFields(*it, prefix + "/unreachableStrategy",
                        {{"inactiveAfterSeconds", Kind::kInt}, {"expungeAfterSeconds", Kind::kInt}},
                        p);
    }
  }
  if (auto it = app.find("networks"); it != app.end() && it->is_array()) {
    for (size_t i = 0; i < it->size(); ++i) {
      CheckObjectFields(
          (*it)[i], Idx(prefix + "/networks", i),
          {{"mode", Kind::kString}, {"name", Kind::kString}, {"labels", Kind::kStringMap}}, p);
    }
  }
  if (auto it = app.find("container"); it != app.end() && it->is_object()) {
    CheckObjectFields(*it, prefix + "/container",
                      {{"type", Kind::kString},
                       {"docker", Kind::kObject},
                       {"volumes", Kind::kArray},
                       {"portMappings", Kind::kArray}},
                      p);
    auto pm_check = [&](const Json& arr, const std::string& path) {
      if (!arr.is_array()) return;
      for (size_t i = 0; i < arr.size(); ++i) {
        CheckObjectFields(arr[i], Idx(path, i),
                          {{"containerPort", Kind::kInt},
                           {"hostPort", Kind::kInt},
                           {"servicePort", Kind::kInt},
                           {"protocol", Kind::kString},
                           {"name", Kind::kString},
                           {"labels", Kind::kStringMap}},
                          p);
      }
    };
    if (auto pm = it->find("portMappings"); pm != it->end())
      pm_check(*pm, prefix + "/container/portMappings");
    if (auto d = it->find("docker"); d != it->end() && d->is_object()) {
      CheckObjectFields(*d, prefix + "/container/docker",
                        {{"image", Kind::kString},
                         {"network", Kind::kString},
                         {"forcePullImage", Kind::kBool},
                         {"privileged", Kind::kBool},
                         {"parameters", Kind::kArray},
                         {"portMappings", Kind::kArray}},
                        p);
      if (auto pm = d->find("portMappings"); pm != d->end())
        pm_check(*pm, prefix + "/container/docker/portMappings");
    }
  }
}

void TranslateDeprecated(Json& app, Problems* invalid) {
  if (!app.is_object()) return;
  // ports → portDefinitions (no names).
  if (auto it = app.find("ports"); it != app.end()) {
    if (!app.contains("portDefinitions") && it->is_array()) {
      Json defs = Json::array();
      for (const auto& port : *it) defs.push_back({{"port", port}, {"protocol", "tcp"}});
      app["portDefinitions"] = defs;
    }
    app.erase("ports");
  }
  // uris → fetch.
  if (auto it = app.find("uris"); it != app.end()) {
    if (app.contains("fetch") && !app["fetch"].empty() && !it->empty()) {
      invalid->Add("/", "may not be set in conjunction with fetch");
    } else if (it->is_array()) {
      Json fetch = Json::array();
      for (const auto& u : *it) {
        if (!u.is_string()) continue;
        fetch.push_back({{"uri", u}, {"extract", IsExtractable(u.get<std::string>())}});
      }
      if (!fetch.empty() || !app.contains("fetch")) app["fetch"] = fetch;
    }
    app.erase("uris");
  }
  app.erase("storeUrls");
  // container.docker.network / portMappings and ipAddress → networks / container.portMappings.
  Json ip = app.contains("ipAddress") && app["ipAddress"].is_object() ? app["ipAddress"] : Json();
  app.erase("ipAddress");
  std::string docker_network;
  if (auto c = app.find("container"); c != app.end() && c->is_object()) {
    if (auto d = c->find("docker"); d != c->end() && d->is_object()) {
      if (auto n = d->find("network"); n != d->end()) {
        if (n->is_string()) docker_network = n->get<std::string>();
        d->erase("network");
      }
      if (auto pm = d->find("portMappings"); pm != d->end()) {
        // An empty list is a choice (no ports), kept apart from an absent one (one default
        // port): marathon-events.md §4.1, rows 5 and 6.
        bool outer = c->contains("portMappings") && !(*c)["portMappings"].is_null();
        if (outer && !(*c)["portMappings"].empty() && !pm->empty()) {
          invalid->Add("/container", "cannot specify both portMappings and docker.portMappings");
        } else if (pm->is_array() && (!outer || !pm->empty())) {
          (*c)["portMappings"] = *pm;
        }
        d->erase("portMappings");
      }
    }
  }
  if (!docker_network.empty()) {
    if (app.contains("networks")) {
      invalid->Add("/", "must not specify both container.docker.network and networks");
      return;
    }
    if (docker_network == "HOST") {
      app["networks"] = Json::array({{{"mode", "host"}}});
    } else if (docker_network == "BRIDGE") {
      app["networks"] = Json::array({{{"mode", "container/bridge"}}});
    } else if (docker_network == "USER") {
      Json net = {{"mode", "container"}};
      if (ip.is_object() && ip.contains("networkName")) net["name"] = ip["networkName"];
      app["networks"] = Json::array({net});
    } else {
      invalid->Add("/container/docker/network",
                   "unsupported docker network type " + docker_network);
    }
    return;  // with a docker network, ipAddress only named the USER network
  }
  if (ip.is_object()) {
    if (app.contains("networks")) {
      invalid->Add("/", "must not specify both networks and ipAddress");
      return;
    }
    Json net = {{"mode", "container"}};
    if (ip.contains("networkName")) net["name"] = ip["networkName"];
    if (ip.contains("labels") && ip["labels"].is_object() && !ip["labels"].empty())
      net["labels"] = ip["labels"];
    app["networks"] = Json::array({net});
    auto disc = ip.find("discovery");
    if (disc != ip.end() && disc->is_object() && disc->contains("ports") &&
        (*disc)["ports"].is_array()) {
      Json mappings = Json::array();
      for (const auto& dp : (*disc)["ports"]) {
        if (!dp.is_object()) continue;
        Json pm = {{"containerPort", dp.value("number", Json(0))},
                   {"protocol", dp.value("protocol", Json("tcp"))}};
        if (dp.contains("name")) pm["name"] = dp["name"];
        if (dp.contains("labels")) pm["labels"] = dp["labels"];
        mappings.push_back(pm);
      }
      if (!app.contains("container")) app["container"] = {{"type", "MESOS"}};
      if (!app["container"].contains("portMappings")) app["container"]["portMappings"] = mappings;
    }
  }
}

std::variant<Json, ApiError> NormaliseApp(const Json& in, const std::string& id) {
  Problems bad;
  Json out = Json::object();
  out["id"] = id;
  if (in.contains("cmd")) out["cmd"] = in["cmd"];
  if (in.contains("args") && !in["args"].empty()) out["args"] = in["args"];
  if (in.contains("user")) out["user"] = in["user"];
  if (in.contains("env") && !in["env"].empty()) out["env"] = in["env"];
  out["instances"] = in.value("instances", Json(1));
  if (AsInt(out["instances"]) < 0) {
    bad.Add("/instances",
            "got " + std::to_string(AsInt(out["instances"])) + ", expected 0 or more");
  }
  out["instances"] = AsInt(out["instances"]);
  out["cpus"] = Number(in.value("cpus", 1.0));
  out["mem"] = Number(in.value("mem", 128.0));
  out["disk"] = Number(in.value("disk", 0.0));
  out["gpus"] = AsInt(in.value("gpus", Json(0)));
  if (out["cpus"].get<double>() < 0.001)
    bad.Add("/cpus", "got " + out["cpus"].dump() + ", expected 0.001 or more");
  if (out["mem"].get<double>() < 0)
    bad.Add("/mem", "got " + out["mem"].dump() + ", expected 0.0 or more");
  if (out["disk"].get<double>() < 0)
    bad.Add("/disk", "got " + out["disk"].dump() + ", expected 0.0 or more");
  if (out["gpus"].get<int64_t>() < 0)
    bad.Add("/gpus", "got " + out["gpus"].dump() + ", expected 0 or more");
  out["executor"] = in.value("executor", Json(""));
  if (in.contains("constraints") && !in["constraints"].empty()) {
    static const std::set<std::string> kOps = {"UNIQUE", "CLUSTER", "GROUP_BY", "LIKE",
                                               "UNLIKE", "MAX_PER", "IS"};
    const Json& cs = in["constraints"];
    for (size_t i = 0; i < cs.size(); ++i) {
      if (cs[i].size() < 2 || cs[i].size() > 3) {
        bad.Add(Idx("/constraints", i), "Each constraint must have either 2 or 3 fields");
      } else if (!kOps.count(cs[i][1].get<std::string>())) {
        bad.Add(Idx("/constraints", i),
                "Constraint operator must be one of the following: [" +
                    std::string("CLUSTER, GROUP_BY, IS, LIKE, MAX_PER, UNIQUE, UNLIKE]"));
      }
    }
    out["constraints"] = cs;
  }
  if (in.contains("fetch") && !in["fetch"].empty()) {
    Json fetch = Json::array();
    const Json& f = in["fetch"];
    for (size_t i = 0; i < f.size(); ++i) {
      if (!f[i].is_object() || !f[i].contains("uri") || !f[i]["uri"].is_string()) {
        bad.Add(Idx("/fetch", i) + "/uri", "error.path.missing");
        continue;
      }
      Json e = {{"uri", f[i]["uri"]},
                {"extract", f[i].value("extract", true)},
                {"executable", f[i].value("executable", false)},
                {"cache", f[i].value("cache", false)}};
      if (f[i].contains("destPath")) e["destPath"] = f[i]["destPath"];
      fetch.push_back(e);
    }
    out["fetch"] = fetch;
  }
  out["backoffSeconds"] = AsInt(in.value("backoffSeconds", Json(1)));
  out["backoffFactor"] = Number(in.value("backoffFactor", 1.15));
  if (out["backoffFactor"].get<double>() < 1.0) {
    bad.Add("/backoffFactor", "got " + out["backoffFactor"].dump() + ", expected 1.0 or more");
  }
  out["maxLaunchDelaySeconds"] = AsInt(in.value("maxLaunchDelaySeconds", Json(300)));

  // Networks.
  Json networks = Json::array();
  if (in.contains("networks") && !in["networks"].empty()) {
    const Json& ns = in["networks"];
    int hosts = 0, bridges = 0, containers = 0;
    for (size_t i = 0; i < ns.size(); ++i) {
      Json n = Json::object();
      std::string mode = ns[i].value("mode", std::string("container"));
      if (mode == "host") {
        ++hosts;
      } else if (mode == "container/bridge") {
        ++bridges;
      } else if (mode == "container") {
        ++containers;
      } else {
        bad.Add(Idx("/networks", i) + "/mode", "error.unknown.enum.literal");
      }
      n["mode"] = mode;
      if (ns[i].contains("name")) n["name"] = ns[i]["name"];
      if (ns[i].contains("labels") && !ns[i]["labels"].empty()) n["labels"] = ns[i]["labels"];
      networks.push_back(n);
    }
    if ((hosts > 0 && hosts + bridges + containers > 1) || bridges > 1 ||
        (bridges > 0 && containers > 0)) {
      bad.Add("/networks",
              "must be a single host network, a single bridge network, or one or more container "
              "networks");
    }
  } else {
    networks.push_back({{"mode", "host"}});
  }
  out["networks"] = networks;
  const std::string mode0 = networks[0]["mode"].get<std::string>();
  const bool host = mode0 == "host";
  const bool bridge = mode0 == "container/bridge";

  // Container.
  size_t port_count = 0;
  if (in.contains("container") && in["container"].is_object()) {
    const Json& c = in["container"];
    Json oc = c;
    oc.erase("portMappings");
    std::string type = c.value("type", std::string("DOCKER"));
    if (type != "DOCKER" && type != "MESOS")
      bad.Add("/container/type", "error.unknown.enum.literal");
    oc["type"] = type;
    if (type == "DOCKER") {
      Json d = c.contains("docker") && c["docker"].is_object() ? c["docker"] : Json::object();
      if (!d.contains("image") || !d["image"].is_string() ||
          d["image"].get<std::string>().empty()) {
        bad.Add("/container/docker/image", "must not be empty");
      }
      if (!d.contains("forcePullImage")) d["forcePullImage"] = false;
      if (!d.contains("privileged")) d["privileged"] = false;
      if (!d.contains("parameters")) d["parameters"] = Json::array();
      oc["docker"] = d;
    }
    if (!oc.contains("volumes") || !oc["volumes"].is_array()) oc["volumes"] = Json::array();
    if (!host) {
      Json mappings = Json::array();
      if (c.contains("portMappings") && c["portMappings"].is_array()) {
        for (const auto& pm : c["portMappings"])
          mappings.push_back(NormalisePortMapping(pm, bridge));
      } else {
        mappings.push_back(NormalisePortMapping({{"name", "default"}}, bridge));
      }
      port_count = mappings.size();
      oc["portMappings"] = mappings;  // [] stays [] (no ports); only absent gets the default
    }
    out["container"] = oc;
  } else if (!host) {
    bad.Add("/container", "must be defined for container/bridge and container networking");
  }
  if (host) {
    Json defs = Json::array();
    if (in.contains("portDefinitions")) {
      const Json& pd = in["portDefinitions"];
      std::set<int64_t> seen;
      for (size_t i = 0; i < pd.size(); ++i) {
        Json d = {{"port", AsInt(pd[i].value("port", Json(0)))},
                  {"protocol", pd[i].value("protocol", Json("tcp"))}};
        if (pd[i].contains("name")) d["name"] = pd[i]["name"];
        if (pd[i].contains("labels") && !pd[i]["labels"].empty()) d["labels"] = pd[i]["labels"];
        int64_t port = d["port"].get<int64_t>();
        if (port < 0 || port > 65535)
          bad.Add(Idx("/portDefinitions", i) + "/port",
                  "got " + std::to_string(port) + ", expected between 0 and 65535");
        if (port != 0 && !seen.insert(port).second)
          bad.Add("/portDefinitions", "Ports must be unique.");
        defs.push_back(d);
      }
    } else {
      defs.push_back({{"port", 0}, {"protocol", "tcp"}, {"name", "default"}});
    }
    port_count = defs.size();
    out["portDefinitions"] = defs;
    out["requirePorts"] = in.value("requirePorts", false);
  } else {
    out["requirePorts"] = false;
  }

  // Health checks.
  if (in.contains("healthChecks") && !in["healthChecks"].empty()) {
    static const std::set<std::string> kProtocols = {
        "HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"};
    Json hcs = Json::array();
    const Json& ih = in["healthChecks"];
    for (size_t i = 0; i < ih.size(); ++i) {
      const Json& h = ih[i];
      std::string path = Idx("/healthChecks", i);
      Json o = Json::object();
      std::string protocol = h.value("protocol", std::string("HTTP"));
      if (!kProtocols.count(protocol)) bad.Add(path + "/protocol", "error.unknown.enum.literal");
      o["protocol"] = protocol;
      o["gracePeriodSeconds"] = AsInt(h.value("gracePeriodSeconds", Json(300)));
      o["intervalSeconds"] = AsInt(h.value("intervalSeconds", Json(60)));
      o["timeoutSeconds"] = AsInt(h.value("timeoutSeconds", Json(20)));
      o["maxConsecutiveFailures"] = AsInt(h.value("maxConsecutiveFailures", Json(3)));
      o["delaySeconds"] = AsInt(h.value("delaySeconds", Json(15)));
      o["ipProtocol"] = h.value("ipProtocol", Json("IPv4"));
      if (o["intervalSeconds"].get<int64_t>() < 1)
        bad.Add(path + "/intervalSeconds", "got 0, expected 1 or more");
      if (o["maxConsecutiveFailures"].get<int64_t>() < 0) {
        bad.Add(path + "/maxConsecutiveFailures",
                "got " + o["maxConsecutiveFailures"].dump() + ", expected 0 or more");
      }
      if (protocol == "HTTP" || protocol == "HTTPS")
        o["ignoreHttp1xx"] = h.value("ignoreHttp1xx", false);
      if ((protocol == "HTTP" || protocol == "HTTPS" || protocol == "MESOS_HTTP" ||
           protocol == "MESOS_HTTPS") &&
          h.contains("path")) {
        o["path"] = h["path"];
      }
      if (protocol == "COMMAND") {
        if (!h.contains("command") || !h["command"].is_object() ||
            !h["command"].contains("value")) {
          bad.Add(path + "/command", "error.path.missing");
        } else {
          o["command"] = h["command"];
        }
      } else if (h.contains("port")) {
        o["port"] = h["port"];
      } else {
        int64_t idx = AsInt(h.value("portIndex", Json(0)));
        if (idx < 0 || static_cast<size_t>(idx) >= port_count) {
          bad.Add(path + "/portIndex",
                  "Health check port indices must address an element of the ports array or "
                  "container port mappings.");
        }
        o["portIndex"] = idx;
      }
      hcs.push_back(o);
    }
    out["healthChecks"] = hcs;
  }
  if (in.contains("readinessChecks") && !in["readinessChecks"].empty()) {
    Json rcs = Json::array();
    for (const auto& r : in["readinessChecks"]) {
      if (!r.is_object()) continue;
      Json o = r;
      if (!o.contains("name")) o["name"] = "readinessCheck";
      if (!o.contains("protocol")) o["protocol"] = "HTTP";
      if (!o.contains("path")) o["path"] = "/";
      if (!o.contains("portName")) o["portName"] = "http-api";
      if (!o.contains("intervalSeconds")) o["intervalSeconds"] = 30;
      if (!o.contains("timeoutSeconds")) o["timeoutSeconds"] = 10;
      if (!o.contains("httpStatusCodesForReady")) o["httpStatusCodesForReady"] = Json::array({200});
      if (!o.contains("preserveLastResponse")) o["preserveLastResponse"] = false;
      rcs.push_back(o);
    }
    out["readinessChecks"] = rcs;
  }
  if (in.contains("dependencies") && !in["dependencies"].empty()) {
    Json deps = Json::array();
    std::string parent = ParentId(id);
    for (const auto& d : in["dependencies"])
      deps.push_back(CanonicalId(d.get<std::string>(), parent));
    out["dependencies"] = deps;
  }
  const bool resident = HasPersistentVolumes(in);
  if (in.contains("upgradeStrategy")) {
    const Json& u = in["upgradeStrategy"];
    Json o = {{"minimumHealthCapacity", Number(u.value("minimumHealthCapacity", 1.0))},
              {"maximumOverCapacity", Number(u.value("maximumOverCapacity", 1.0))}};
    for (const char* f : {"minimumHealthCapacity", "maximumOverCapacity"}) {
      double v = o[f].get<double>();
      if (v > 1.0) bad.Add(std::string("/upgradeStrategy/") + f, "is greater than 1");
      if (v < 0.0) bad.Add(std::string("/upgradeStrategy/") + f, "is less than 0");
    }
    out["upgradeStrategy"] = o;
  } else if (resident) {
    out["upgradeStrategy"] = {{"minimumHealthCapacity", 0.5}, {"maximumOverCapacity", 0}};
  } else {
    out["upgradeStrategy"] = {{"minimumHealthCapacity", 1}, {"maximumOverCapacity", 1}};
  }
  if (in.contains("unreachableStrategy")) {
    const Json& u = in["unreachableStrategy"];
    if (u.is_string()) {
      out["unreachableStrategy"] = u;
    } else {
      Json o = {{"inactiveAfterSeconds", AsInt(u.value("inactiveAfterSeconds", Json(0)))},
                {"expungeAfterSeconds", AsInt(u.value("expungeAfterSeconds", Json(0)))}};
      if (o["inactiveAfterSeconds"].get<int64_t>() > o["expungeAfterSeconds"].get<int64_t>()) {
        bad.Add("/unreachableStrategy/inactiveAfterSeconds",
                "inactiveAfterSeconds must be less or equal to expungeAfterSeconds");
      }
      out["unreachableStrategy"] = o;
    }
  } else if (resident) {
    out["unreachableStrategy"] = "disabled";
  } else {
    out["unreachableStrategy"] = {{"inactiveAfterSeconds", 0}, {"expungeAfterSeconds", 0}};
  }
  std::string kill_selection = in.value("killSelection", std::string("YOUNGEST_FIRST"));
  if (kill_selection != "YOUNGEST_FIRST" && kill_selection != "OLDEST_FIRST") {
    bad.Add("/killSelection", "error.unknown.enum.literal");
  }
  out["killSelection"] = kill_selection;
  out["labels"] = in.contains("labels") ? in["labels"] : Json::object();
  if (in.contains("acceptedResourceRoles") && !in["acceptedResourceRoles"].empty()) {
    out["acceptedResourceRoles"] = in["acceptedResourceRoles"];
  }
  if (in.contains("secrets") && !in["secrets"].empty()) out["secrets"] = in["secrets"];
  if (in.contains("taskKillGracePeriodSeconds"))
    out["taskKillGracePeriodSeconds"] = AsInt(in["taskKillGracePeriodSeconds"]);
  if (in.contains("tty")) out["tty"] = in["tty"];
  if (in.contains("role")) out["role"] = in["role"];
  if (in.contains("residency")) out["residency"] = in["residency"];
  if (in.contains("check") && in["check"].is_object()) {
    Json c = in["check"];
    if (!c.contains("intervalSeconds")) c["intervalSeconds"] = 60;
    if (!c.contains("timeoutSeconds")) c["timeoutSeconds"] = 20;
    if (!c.contains("delaySeconds")) c["delaySeconds"] = 15;
    if (c.contains("http") && c["http"].is_object() && !c["http"].contains("scheme"))
      c["http"]["scheme"] = "HTTP";
    out["check"] = c;
  }

  bool has_cmd = out.contains("cmd"), has_args = out.contains("args"),
       has_container = out.contains("container");
  // Marathon also rejects cmd together with args; the emulator accepts that when a
  // container is given, because upstream's own example (app.json) does it.
  if ((!has_cmd && !has_args && !has_container) || (has_cmd && has_args && !has_container)) {
    bad.Add("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.");
  }
  if (!bad.empty()) return bad.ToError("Object is not valid");
  return out;
}

std::vector<int> ServicePortsOf(const Json& app) {
  std::vector<int> out;
  if (auto pd = app.find("portDefinitions"); pd != app.end()) {
    for (const auto& d : *pd) out.push_back(static_cast<int>(d.value("port", 0)));
    return out;
  }
  if (auto c = app.find("container"); c != app.end()) {
    if (auto pm = c->find("portMappings"); pm != c->end()) {
      for (const auto& m : *pm) out.push_back(static_cast<int>(m.value("servicePort", 0)));
    }
  }
  return out;
}

bool IsHostNetworking(const Json& app) {
  auto n = app.find("networks");
  return n == app.end() || n->empty() || (*n)[0].value("mode", "") == "host";
}

int HostPortCount(const Json& app) {
  if (IsHostNetworking(app))
    return static_cast<int>(app.value("portDefinitions", Json::array()).size());
  int count = 0;
  if (auto c = app.find("container"); c != app.end()) {
    if (auto pm = c->find("portMappings"); pm != c->end()) {
      for (const auto& m : *pm) {
        if (m.contains("hostPort")) ++count;
      }
    }
  }
  return count;
}

bool IsConfigChange(const Json& a, const Json& b) {
  Json x = a, y = b;
  for (Json* j : {&x, &y}) {
    j->erase("instances");
    j->erase("version");
    j->erase("versionInfo");
  }
  return x != y;
}

}  // namespace galley::sandbox::marathon
