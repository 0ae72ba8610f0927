// SPDX-License-Identifier: Apache-2.0
// Parser for services/*.yaml. Keys are documented in schema/README.md and
// schema/v1/service.schema.json; keep the three in step.
#include "base/strings.h"
#include "spec/parse.h"
#include "spec/parse_jobs.h"
#include "spec/reader.h"

namespace galley::spec {
namespace {

void ParseConfig(Reader& r, const Field& f, model::ConfigMap& out) {
  auto entries = r.OpenMap(f, f.path);
  if (!entries) return;
  for (const auto& e : *entries) {
    model::ConfigValue v;
    v.pos = e.key_pos;
    if (e.value.IsNull()) {
      r.Error(e.value_pos, e.path + " has no value (null)",
              "a string; write \"\" for an empty value or remove the key");
      continue;
    }
    if (e.value.IsScalar()) {
      v.text = e.value.Scalar();  // verbatim: 0.10 stays "0.10", true stays "true"
      out[e.key] = v;
      continue;
    }
    if (e.value.IsMap()) {
      auto s = r.Map(e, "secret " + Quote(e.key), {"secret_env", "secret_file"}, {});
      if (!s) continue;
      if (s->size() != 1) {
        r.Error(e.value_pos, e.path + " must name exactly one secret source",
                "{secret_env: VARIABLE} or {secret_file: /path}");
        continue;
      }
      const Field& src = s->front();
      auto text = r.String(src);
      if (!text) continue;
      v.source = src.key == "secret_env" ? model::ConfigValue::Source::kSecretEnv
                                         : model::ConfigValue::Source::kSecretFile;
      v.text = *text;
      out[e.key] = v;
      continue;
    }
    r.Error(e.value_pos, e.path + " must be a string, got " + Reader::Describe(e.value),
            "a scalar value, or {secret_env: VARIABLE} / {secret_file: /path}");
  }
}

std::optional<model::Resources> ParseResources(Reader& r, const Field& f, bool all_required) {
  std::vector<std::string> required;
  if (all_required) required = {"cpus", "mem"};
  auto m = r.Map(f, f.path.empty() ? "resources" : f.path, {"cpus", "mem", "disk"}, required);
  if (!m) return std::nullopt;
  model::Resources res;
  bool ok = true;
  for (const auto& k : *m) {
    if (k.key == "cpus") {
      auto v = r.Number(k, 0, 1024, true);
      ok = ok && v;
      if (v) res.cpus = *v;
    } else if (k.key == "mem") {
      auto v = r.Number(k, 0, 4 * 1024 * 1024, true);
      ok = ok && v;
      if (v) res.mem = *v;
    } else if (k.key == "disk") {
      auto v = r.Number(k, 0, 64 * 1024 * 1024, false);
      ok = ok && v;
      if (v) res.disk = *v;
    }
  }
  return res;
}

void ParsePorts(Reader& r, const Field& f, model::Service& s) {
  auto items = r.List(f, "ports");
  if (!items) return;
  for (const auto& item : *items) {
    auto m = r.Map(r.AsField(item), "a port", {"container", "expose"}, {"container"});
    if (!m) continue;
    model::Port p;
    p.pos = item.pos;
    bool ok = true;
    for (const auto& k : *m) {
      if (k.key == "container") {
        auto v = r.Int(k, 1, 65535);
        ok = ok && v;
        if (v) p.container = static_cast<int>(*v);
      } else if (k.key == "expose") {
        auto e = r.Enum(k, {"http", "tcp", "none"});
        ok = ok && e;
        if (e)
          p.expose = *e == "http"  ? model::Expose::kHttp
                     : *e == "tcp" ? model::Expose::kTcp
                                   : model::Expose::kNone;
      }
    }
    if (ok) s.ports.push_back(p);
  }
}

void ParseHealth(Reader& r, const Field& f, model::Service& s) {
  auto m = r.Map(f, "health", {"path", "grace", "interval", "timeout", "max_failures"}, {});
  if (!m) return;
  model::Health h;
  h.pos = f.key_pos;
  for (const auto& k : *m) {
    if (k.key == "path") {
      if (auto v = r.String(k, "an HTTP path such as /healthcheck")) h.path = *v;
    } else if (k.key == "grace") {
      if (auto v = r.DurationSeconds(k)) h.grace_s = *v;
    } else if (k.key == "interval") {
      if (auto v = r.DurationSeconds(k)) h.interval_s = *v;
    } else if (k.key == "timeout") {
      if (auto v = r.DurationSeconds(k)) h.timeout_s = *v;
    } else if (k.key == "max_failures") {
      if (auto v = r.Int(k, 0, 1000)) h.max_failures = static_cast<int>(*v);
    }
  }
  s.health = h;
}

void ParseEnvironment(Reader& r, const Field& e, model::Service& s) {
  model::ServiceEnvironment env;
  env.name = e.key;
  env.pos = e.key_pos;
  auto m =
      r.Map(e, "environment " + Quote(e.key),
            {"tag", "instances", "config", "resources", "paused", "policy"}, {"tag", "instances"});
  if (!m) return;
  for (const auto& k : *m) {
    if (k.key == "tag") {
      env.tag_pos = k.value_pos;
      if (auto v = r.NonEmptyString(k, "an immutable image tag")) env.tag = *v;
    } else if (k.key == "instances") {
      env.instances_pos = k.value_pos;
      if (auto v = r.Int(k, 0, 10000)) env.instances = static_cast<int>(*v);
    } else if (k.key == "config") {
      ParseConfig(r, k, env.config);
    } else if (k.key == "resources") {
      env.resources = ParseResources(r, k, false);
      if (env.resources) {
        // Unset fields take the service's values.
        if (env.resources->cpus == 0) env.resources->cpus = s.resources.cpus;
        if (env.resources->mem == 0) env.resources->mem = s.resources.mem;
        if (!env.resources->disk) env.resources->disk = s.resources.disk;
      }
    } else if (k.key == "paused") {
      if (auto b = r.Bool(k)) env.paused = *b;
    } else if (k.key == "policy") {
      if (auto b = r.Policy(k)) env.policy = *b;
    }
  }
  s.environments.push_back(std::move(env));
}

}  // namespace

bool IsIgnorablePointer(const std::string& p) {
  if (p.size() < 2 || p[0] != '/' || p == "/id" || StartsWith(p, "/id/")) return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '~' && (i + 1 >= p.size() || (p[i + 1] != '0' && p[i + 1] != '1'))) return false;
    if (static_cast<unsigned char>(p[i]) < 0x20) return false;
  }
  return true;
}

std::optional<model::Service> ParseService(const YamlDocument& doc, Diagnostics& diags) {
  Reader r(doc, diags);
  static const std::vector<std::string> kKeys = {
      "name",       "image",   "registry",     "command", "resources",      "ports",
      "health",     "upgrade", "balance",      "tags",    "external_hosts", "config",
      "kill_grace", "paused",  "environments", "ignore",  "policy",         "jobs"};
  auto fields =
      r.Map(r.Root(), "a service file", kKeys, {"name", "image", "resources", "environments"});
  if (!fields) return std::nullopt;
  model::Service s;
  s.file = doc.file;
  s.name_pos = SourcePos{doc.file, 1, 1};
  // resources first: per-environment overrides inherit from it.
  for (const auto& f : *fields) {
    if (f.key == "resources") {
      s.resources_pos = f.key_pos;
      if (auto res = ParseResources(r, f, true)) s.resources = *res;
    }
  }
  for (const auto& f : *fields) {
    if (f.key == "name") {
      s.name_pos = f.value_pos;
      if (auto v = r.NonEmptyString(f, "the service's name")) s.name = *v;
    } else if (f.key == "image") {
      if (auto v = r.NonEmptyString(f, "an image repository such as test-server")) s.image = *v;
    } else if (f.key == "registry") {
      if (auto v = r.String(f, "a registry host")) s.registry = *v;
    } else if (f.key == "command") {
      if (auto v = r.StringList(f, "command")) s.command = *v;
    } else if (f.key == "ports") {
      ParsePorts(r, f, s);
    } else if (f.key == "health") {
      ParseHealth(r, f, s);
    } else if (f.key == "upgrade") {
      auto m = r.Map(f, "upgrade", {"min_health", "max_over"}, {});
      if (!m) continue;
      model::Upgrade u;
      for (const auto& k : *m) {
        auto v = r.Number(k, 0, 1, false);
        if (!v) continue;
        (k.key == "min_health" ? u.min_health : u.max_over) = *v;
      }
      s.upgrade = u;
    } else if (f.key == "balance") {
      if (auto v = r.Enum(f, {"roundrobin", "leastconn", "source"})) s.balance = *v;
    } else if (f.key == "tags") {
      if (auto v = r.StringList(f, "tags")) s.tags = *v;
    } else if (f.key == "external_hosts") {
      auto items = r.List(f, "external_hosts");
      if (!items) continue;
      for (const auto& item : *items) {
        if (auto v = r.String(r.AsField(item), "a host name"))
          s.external_hosts.push_back({*v, item.pos});
      }
    } else if (f.key == "config") {
      ParseConfig(r, f, s.config);
    } else if (f.key == "kill_grace") {
      if (auto v = r.DurationSeconds(f)) s.kill_grace_s = *v;
    } else if (f.key == "paused") {
      if (auto b = r.Bool(f)) s.paused = *b;
    } else if (f.key == "policy") {
      if (auto b = r.Policy(f)) s.policy = *b;
    } else if (f.key == "ignore") {
      s.ignore_pos = f.value_pos;
      auto items = r.List(f, "ignore");
      if (!items) continue;
      for (const auto& item : *items) {
        auto v = r.String(r.AsField(item), "a JSON pointer such as /instances");
        if (!v) continue;
        if (!IsIgnorablePointer(*v)) {
          r.Error(item.pos, item.path + " is " + Quote(*v),
                  "a JSON pointer into the service's Marathon app such as /instances or "
                  "/labels/team, not /id");
          continue;
        }
        s.ignore.push_back(*v);
      }
    } else if (f.key == "environments") {
      auto envs = r.OpenMap(f, "environments");
      if (!envs) continue;
      for (const auto& e : *envs) ParseEnvironment(r, e, s);
    }
  }
  // jobs last: a job exists in the service's environments unless it names its own.
  for (const auto& f : *fields) {
    if (f.key == "jobs") ParseJobs(r, f, s);
  }
  return s;
}

}  // namespace galley::spec
