// SPDX-License-Identifier: Apache-2.0
#include "engine/adopt.h"

#include <algorithm>
#include <sstream>

#include "base/strings.h"
#include "engine/desired.h"
#include "engine/diff.h"
#include "engine/ownership.h"
#include "render/marathon_app.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

bool IsConfigKeyName(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string Str(const json& j, const char* ptr) {
  json::json_pointer p(ptr);
  return j.contains(p) && j.at(p).is_string() ? j.at(p).get<std::string>() : "";
}

std::optional<double> Num(const json& j, const char* ptr) {
  json::json_pointer p(ptr);
  if (j.contains(p) && j.at(p).is_number()) return j.at(p).get<double>();
  return std::nullopt;
}

// The first array on the way to `ptr` ends it: ignore whole lists, not their elements.
std::string Coarsen(const std::string& ptr, const json& a, const json& b) {
  std::string out;
  for (const auto& part : Split(ptr.substr(1), '/')) {
    std::string next = out + "/" + part;
    json::json_pointer jp(out.empty() ? "" : out);
    bool array = (a.contains(jp) && a.at(jp).is_array()) || (b.contains(jp) && b.at(jp).is_array());
    if (!out.empty() && array) return out;
    out = next;
  }
  return out;
}

struct EnvApp {
  std::string env;
  const model::LiveApp* app;
  json body;  // without galley labels
};

// The service's fields read from one app (the first environment's).
void ReadServiceFields(const model::Platform& p, const EnvApp& e, const std::string& name,
                       model::Service& s, std::string* refused) {
  const json& b = e.body;
  std::string image = Str(b, "/container/docker/image");
  size_t colon = image.rfind(':');
  if (image.empty() || colon == std::string::npos || image.find('/', colon) != std::string::npos) {
    *refused = "app " + e.app->id + " has no Docker image with a tag";
    return;
  }
  std::string repo = image.substr(0, colon);
  if (!p.registry.empty() && StartsWith(repo, p.registry + "/")) {
    s.image = repo.substr(p.registry.size() + 1);
  } else {
    size_t slash = repo.find('/');
    std::string first = slash == std::string::npos ? "" : repo.substr(0, slash);
    if (!first.empty() && (first.find('.') != std::string::npos ||
                           first.find(':') != std::string::npos || first == "localhost")) {
      s.registry = first;
      s.image = repo.substr(slash + 1);
    } else if (p.registry.empty()) {
      s.image = repo;
    } else {
      *refused = "app " + e.app->id + "'s image " + image +
                 " names no registry, and galley.yaml's registry " + p.registry +
                 " would be put in front of it";
      return;
    }
  }
  // args = wrapper + KV prefix + command.
  if (b.contains("args") && b["args"].is_array()) {
    std::vector<std::string> args;
    for (const auto& a : b["args"]) args.push_back(a.is_string() ? a.get<std::string>() : a.dump());
    size_t w = p.wrapper.size();
    if (args.size() > w && std::equal(p.wrapper.begin(), p.wrapper.end(), args.begin()) &&
        args[w] == render::KvPrefix(e.env, name)) {
      s.command.assign(args.begin() + static_cast<long>(w) + 1, args.end());
    }
  }
  s.resources.cpus = Num(b, "/cpus").value_or(1);
  s.resources.mem = Num(b, "/mem").value_or(128);
  if (auto d = Num(b, "/disk"); d && *d != 0) s.resources.disk = *d;
  // Ports and their exposure from SERVICE_TAGS: "<env>,internal-listen-<http|tcp>-<port>,...,
  // balance-<b>,<tags...>".
  std::vector<std::string> tags = Split(Str(b, "/env/SERVICE_TAGS"), ',');
  std::map<int, model::Expose> exposed;
  size_t i = tags.empty() || tags[0] != e.env ? 0 : 1;
  for (; i < tags.size(); ++i) {
    const std::string& t = tags[i];
    if (StartsWith(t, "internal-listen-http-") || StartsWith(t, "internal-listen-tcp-")) {
      bool http = StartsWith(t, "internal-listen-http-");
      try {
        exposed[std::stoi(t.substr(http ? 21 : 20))] =
            http ? model::Expose::kHttp : model::Expose::kTcp;
      } catch (const std::exception&) {
      }
      continue;
    }
    if (StartsWith(t, "balance-") && s.balance.empty()) {
      s.balance = t.substr(8);
      continue;
    }
    if (!t.empty()) s.tags.push_back(t);
  }
  // Marathon 1.5+ answers /container/portMappings; 1.4 /container/docker/portMappings.
  json::json_pointer pm("/container/portMappings");
  if (!b.contains(pm)) pm = json::json_pointer("/container/docker/portMappings");
  if (b.contains(pm) && b.at(pm).is_array()) {
    for (const auto& m : b.at(pm)) {
      model::Port port;
      port.container = m.value("containerPort", 0);
      auto it = exposed.find(port.container);
      port.expose = it == exposed.end() ? model::Expose::kNone : it->second;
      s.ports.push_back(port);
    }
  }
  if (b.contains("healthChecks") && b["healthChecks"].is_array() && b["healthChecks"].size() == 1) {
    const json& hc = b["healthChecks"][0];
    std::string proto = hc.value("protocol", "");
    if (proto == "HTTP" || proto == "TCP") {
      model::Health h;
      if (proto == "HTTP") h.path = hc.value("path", "/");
      h.grace_s = hc.value("gracePeriodSeconds", 300);
      h.interval_s = hc.value("intervalSeconds", 60);
      if (hc.contains("timeoutSeconds")) h.timeout_s = hc.value("timeoutSeconds", 20);
      h.max_failures = hc.value("maxConsecutiveFailures", 3);
      s.health = h;
    }
  }
  if (b.contains("upgradeStrategy") && b["upgradeStrategy"].is_object()) {
    model::Upgrade u;
    u.min_health = b["upgradeStrategy"].value("minimumHealthCapacity", 1.0);
    u.max_over = b["upgradeStrategy"].value("maximumOverCapacity", 1.0);
    s.upgrade = u;
  }
  if (auto k = Num(b, "/taskKillGracePeriodSeconds")) s.kill_grace_s = static_cast<int>(*k);
}

std::string Q(const std::string& s) { return json(s).dump(); }

std::string NumText(double d) {
  std::ostringstream o;
  o << d;
  return o.str();
}

std::string ResourcesText(const model::Resources& r) {
  std::string s = "{cpus: " + NumText(r.cpus) + ", mem: " + NumText(r.mem);
  if (r.disk) s += ", disk: " + NumText(*r.disk);
  return s + "}";
}

std::string ListText(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + Q(v[i]);
  return s + "]";
}

void ConfigText(std::ostream& o, const model::ConfigMap& c, const std::string& indent) {
  for (const auto& [k, v] : c) o << indent << k << ": " << Q(v.text) << "\n";
}

}  // namespace

json WithoutGalleyLabels(json body) {
  if (body.contains("labels") && body["labels"].is_object()) {
    body["labels"].erase(kPlatformLabel);
    body["labels"].erase(kConfigDigestLabel);
    if (body["labels"].empty()) body.erase("labels");
  }
  return body;
}

AdoptOutcome PlanAdoption(const AdoptInput& in) {
  AdoptOutcome out;
  const model::Platform& p = *in.platform;
  // service → its apps, in platform environment order.
  std::map<std::string, std::vector<EnvApp>> by_service;
  for (const auto& env : in.environments) {
    std::string prefix = "/" + std::string(model::kAppRoot) + "/" + env + "/";
    for (const auto& [id, app] : in.live->apps) {
      if (!StartsWith(id, prefix)) continue;
      std::string name = id.substr(prefix.size());
      if (name.empty() || name.find('/') != std::string::npos) {
        out.notes.push_back(id + ": not of the form /app/<env>/<service>; left alone");
        continue;
      }
      if (in.owned_apps.count(id) || Labelled(app.body, p.name)) continue;  // galley's already
      if (in.declared_services.count(name)) {
        out.notes.push_back(id + ": service " + name +
                            " is declared in the repository already; adopt writes only new "
                            "service files (remove services/" +
                            name + ".yaml to adopt it)");
        continue;
      }
      by_service[name].push_back({env, &app, WithoutGalleyLabels(app.body)});
    }
  }
  for (auto& [name, apps] : by_service) {
    AdoptedService a;
    model::Service& s = a.service;
    s.name = name;
    ReadServiceFields(p, apps.front(), name, s, &a.refused);
    if (!a.refused.empty()) {
      out.services.push_back(std::move(a));
      continue;
    }
    // Per environment: tag, instances, resources that differ, KV.
    std::map<std::string, std::map<std::string, std::string>> kv_by_env;
    for (const auto& e : apps) {
      model::ServiceEnvironment env;
      env.name = e.env;
      std::string image = Str(e.body, "/container/docker/image");
      env.tag = image.substr(image.rfind(':') + 1);
      env.instances = static_cast<int>(Num(e.body, "/instances").value_or(1));
      model::Resources r{Num(e.body, "/cpus").value_or(1), Num(e.body, "/mem").value_or(128),
                         std::nullopt};
      if (auto d = Num(e.body, "/disk"); d && *d != 0) r.disk = *d;
      if (r.cpus != s.resources.cpus || r.mem != s.resources.mem || r.disk != s.resources.disk)
        env.resources = r;
      std::string kv_prefix = render::KvPrefix(e.env, name) + "/";
      for (const auto& [key, entry] : in.live->kv) {
        if (!StartsWith(key, kv_prefix)) continue;
        std::string k = key.substr(kv_prefix.size());
        if (!IsConfigKeyName(k)) {
          a.keys_left.push_back(key + " (not a config key name: left as is, not galley's)");
          continue;
        }
        kv_by_env[e.env][k] = entry.value;
      }
      s.environments.push_back(std::move(env));
    }
    // A key with one value in every environment is the service's; the rest per environment.
    std::set<std::string> all_keys;
    for (const auto& [env, kv] : kv_by_env)
      for (const auto& [k, v] : kv) all_keys.insert(k);
    for (const auto& k : all_keys) {
      std::optional<std::string> common;
      bool same = true;
      for (const auto& e : s.environments) {
        auto it = kv_by_env[e.name].find(k);
        if (it == kv_by_env[e.name].end()) {
          same = false;
          break;
        }
        if (common && *common != it->second) same = false;
        common = it->second;
      }
      for (auto& e : s.environments) {
        auto it = kv_by_env[e.name].find(k);
        if (it == kv_by_env[e.name].end()) continue;
        model::ConfigValue v;
        v.text = it->second;
        (same ? s.config : e.config)[k] = v;
      }
    }
    // What the schema cannot say: the differences left between the rendering and live.
    std::set<std::string> ignore;
    for (size_t i = 0; i < apps.size(); ++i) {
      json rendered = WithoutGalleyLabels(
          json::parse(render::RenderMarathonApp(p, s, s.environments[i]).dump()));
      json want = Comparable(rendered, {}), have = Comparable(apps[i].body, {});
      for (const auto& c : DiffJson(want, have)) {
        std::string ptr = Coarsen(c.pointer, want, have);
        if (ptr == "/id" || ptr == "/container/docker/image" || ptr == "/container/docker" ||
            ptr == "/container") {
          a.refused = "app " + apps[i].app->id + ": " + ptr +
                      " differs from what the other environments' service file would render "
                      "(the schema has one image and container per service)";
          break;
        }
        if (ignore.insert(ptr).second) {
          a.kept.push_back(ptr + " (" + apps[i].env + ": " +
                           (c.after_present ? c.after.dump() : "absent") +
                           "): kept as it runs through ignore:, not managed by galley");
        }
      }
      if (!a.refused.empty()) break;
    }
    s.ignore.assign(ignore.begin(), ignore.end());
    out.services.push_back(std::move(a));
  }
  return out;
}

std::string AdoptedServiceYaml(const AdoptedService& a, const std::string& stamp) {
  const model::Service& s = a.service;
  std::ostringstream o;
  o << "# yaml-language-server: $schema=../../schema/v1/service.schema.json\n";
  o << "# Adopted from the live platform by `galley adopt` (" << stamp << ").\n";
  for (const auto& k : a.kept) o << "# - " << Printable(k, 300) << "\n";
  for (const auto& k : a.keys_left) o << "# - KV " << Printable(k, 300) << "\n";
  o << "name: " << Q(s.name) << "\n";
  o << "image: " << Q(s.image) << "\n";
  if (!s.registry.empty()) o << "registry: " << Q(s.registry) << "\n";
  if (!s.command.empty()) o << "command: " << ListText(s.command) << "\n";
  o << "resources: " << ResourcesText(s.resources) << "\n";
  if (!s.ports.empty()) {
    o << "ports:\n";
    for (const auto& port : s.ports) {
      o << "  - {container: " << port.container;
      if (port.expose != model::Expose::kNone) o << ", expose: " << model::ExposeName(port.expose);
      o << "}\n";
    }
  }
  if (s.health) {
    const auto& h = *s.health;
    o << "health: {";
    if (!h.path.empty()) o << "path: " << Q(h.path) << ", ";
    o << "grace: " << h.grace_s << "s, interval: " << h.interval_s
      << "s, max_failures: " << h.max_failures;
    if (h.timeout_s) o << ", timeout: " << *h.timeout_s << "s";
    o << "}\n";
  }
  if (s.upgrade) {
    o << "upgrade: {min_health: " << NumText(s.upgrade->min_health)
      << ", max_over: " << NumText(s.upgrade->max_over) << "}\n";
  }
  if (!s.balance.empty()) o << "balance: " << s.balance << "\n";
  if (!s.tags.empty()) o << "tags: " << ListText(s.tags) << "\n";
  if (s.kill_grace_s) o << "kill_grace: " << *s.kill_grace_s << "s\n";
  if (!s.config.empty()) {
    o << "config:\n";
    ConfigText(o, s.config, "  ");
  }
  if (!s.ignore.empty()) o << "ignore: " << ListText(s.ignore) << "\n";
  o << "environments:\n";
  for (const auto& e : s.environments) {
    if (!e.resources && e.config.empty()) {
      o << "  " << e.name << ": {tag: " << Q(e.tag) << ", instances: " << e.instances << "}\n";
      continue;
    }
    o << "  " << e.name << ":\n    tag: " << Q(e.tag) << "\n    instances: " << e.instances << "\n";
    if (e.resources) o << "    resources: " << ResourcesText(*e.resources) << "\n";
    if (!e.config.empty()) {
      o << "    config:\n";
      ConfigText(o, e.config, "      ");
    }
  }
  return o.str();
}

}  // namespace galley::engine
