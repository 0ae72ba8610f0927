// SPDX-License-Identifier: Apache-2.0
// Parser for galley.yaml, the platform file. Its keys are documented in schema/README.md
// and schema/v1/platform.schema.json; keep the three in step.
#include "base/strings.h"
#include "spec/parse.h"
#include "spec/reader.h"

namespace galley::spec {
namespace {

void ParseEnvironments(Reader& r, const Field& f, model::Platform& p) {
  auto envs = r.OpenMap(f, "environments");
  if (!envs) return;
  if (envs->empty()) r.Error(f.value_pos, "environments is empty", "at least one environment");
  for (const auto& e : *envs) {
    model::Environment env;
    env.name = e.key;
    env.pos = e.key_pos;
    if (e.value.IsNull()) {  // "production:" — all defaults
      p.environments.push_back(env);
      continue;
    }
    auto fields = r.Map(e, "environment " + Quote(e.key),
                        {"port_prefix", "host_prefix", "paused", "sync", "policy"}, {});
    if (fields) {
      for (const auto& k : *fields) {
        if (k.key == "port_prefix") {
          if (auto s = r.String(k, "a string of digits such as \"1\"")) {
            if (s->find_first_not_of("0123456789") != std::string::npos || s->size() > 4) {
              r.Error(k.value_pos, k.path + " must be digits, got " + Quote(*s),
                      "a string of up to 4 digits such as \"1\" (prepended to listen ports)");
            } else {
              env.port_prefix = *s;
            }
          }
        } else if (k.key == "host_prefix") {
          if (auto s = r.String(k)) env.host_prefix = *s;
        } else if (k.key == "paused") {
          if (auto b = r.Bool(k)) env.paused = *b;
        } else if (k.key == "sync") {
          if (auto s = r.Enum(k, {"auto", "manual"})) env.sync_auto = *s == "auto";
        } else if (k.key == "policy") {
          if (auto b = r.Policy(k)) env.policy = *b;
        }
      }
    }
    p.environments.push_back(env);
  }
}

void ParseHaproxy(Reader& r, const Field& f, model::Platform& p) {
  auto fields = r.Map(f, "haproxy", {"maxconn", "instances"}, {});
  if (!fields) return;
  for (const auto& k : *fields) {
    if (k.key == "maxconn") {
      if (auto v = r.Int(k, 1, 1000000)) p.haproxy_maxconn = static_cast<int>(*v);
    } else if (k.key == "instances") {
      auto items = r.List(k, "haproxy.instances");
      if (!items) continue;
      for (const auto& item : *items) {
        Field inf = r.AsField(item);
        auto in = r.Map(inf, "a haproxy instance",
                        {"name", "role", "config", "socket", "tls_certificate"}, {"name", "role"});
        if (!in) continue;
        model::HaproxyInstance h;
        h.pos = item.pos;
        for (const auto& g : *in) {
          if (g.key == "name") {
            if (auto s = r.NonEmptyString(g)) h.name = *s;
          } else if (g.key == "role") {
            if (auto s = r.Enum(g, {"internal", "external"})) {
              h.role =
                  *s == "internal" ? model::HaproxyRole::kInternal : model::HaproxyRole::kExternal;
            }
          } else if (g.key == "config") {
            if (auto s = r.String(g, "an absolute path")) h.config_path = *s;
          } else if (g.key == "socket") {
            if (auto s = r.String(g, "an absolute path")) h.socket = *s;
          } else if (g.key == "tls_certificate") {
            if (auto s = r.String(g, "a PEM file name")) h.tls_certificate = *s;
          }
        }
        p.haproxy.push_back(h);
      }
    }
  }
}

void ParseWellKnown(Reader& r, const Field& f, model::Platform& p) {
  auto entries = r.OpenMap(f, "well_known");
  if (!entries) return;
  for (const auto& e : *entries) {
    auto fields = r.Map(e, "well-known service " + Quote(e.key),
                        {"listen", "servers", "check", "timeout"}, {"listen", "servers"});
    if (!fields) continue;
    model::WellKnown w;
    w.name = e.key;
    w.pos = e.key_pos;
    for (const auto& k : *fields) {
      if (k.key == "listen") {
        w.listen_pos = k.value_pos;
        if (auto v = r.Int(k, 1, 65535)) w.listen = static_cast<int>(*v);
      } else if (k.key == "servers") {
        auto items = r.List(k, k.path);
        if (!items) continue;
        if (items->empty()) r.Error(k.value_pos, k.path + " is empty", "at least one host:port");
        for (const auto& item : *items) {
          auto s = r.String(r.AsField(item), "host:port");
          if (!s) continue;
          size_t colon = s->rfind(':');
          int port = 0;
          if (colon != std::string::npos && colon > 0 && colon + 1 < s->size() &&
              s->find_first_not_of("0123456789", colon + 1) == std::string::npos &&
              s->size() - colon <= 6) {
            port = std::stoi(s->substr(colon + 1));
          }
          if (port < 1 || port > 65535) {
            r.Error(item.pos, item.path + " is " + Quote(*s),
                    "host:port with a port from 1 to 65535");
            continue;
          }
          w.servers.push_back({s->substr(0, colon), port});
        }
      } else if (k.key == "check") {
        if (auto s = r.String(k, "an HTTP path such as /ping")) w.check_path = *s;
      } else if (k.key == "timeout") {
        auto t = r.Map(k, k.path, {"client", "server"}, {});
        if (!t) continue;
        for (const auto& g : *t) {
          auto d = r.DurationSeconds(g);
          if (!d) continue;
          (g.key == "client" ? w.timeout_client_s : w.timeout_server_s) = *d;
        }
      }
    }
    p.well_known.push_back(w);
  }
}

// history: {applies, plans, drift_checks, observation_runs, observation_max_age,
// platform_applies}, every key optional (defaults in model::HistoryRetention).
void ParseHistory(Reader& r, const Field& f, model::HistoryRetention& h) {
  auto fields = r.Map(f, "history",
                      {"applies", "plans", "drift_checks", "observation_runs",
                       "observation_max_age", "platform_applies"},
                      {});
  if (!fields) return;
  for (const auto& k : *fields) {
    if (k.key == "observation_max_age") {
      if (auto d = r.DurationSeconds(k)) {
        if (*d < 1)
          r.Error(k.value_pos, "history.observation_max_age must be positive",
                  "a duration such as 168h");
        else
          h.observation_max_age_s = *d;
      }
      continue;
    }
    // Consul holds the platform's applies in one value (512 KiB at most): a few hundred.
    long long max = k.key == "platform_applies" ? 500 : 1000000;
    auto v = r.Int(k, 1, max);
    if (!v) continue;
    int n = static_cast<int>(*v);
    if (k.key == "applies")
      h.applies = n;
    else if (k.key == "plans")
      h.plans = n;
    else if (k.key == "drift_checks")
      h.drift_checks = n;
    else if (k.key == "observation_runs")
      h.observation_runs = n;
    else
      h.platform_applies = n;
  }
}

}  // namespace

std::optional<model::Platform> ParsePlatform(const YamlDocument& doc, Diagnostics& diags) {
  Reader r(doc, diags);
  auto fields =
      r.Map(r.Root(), "the platform file",
            {"apiVersion", "name", "marathon", "consul", "chronos", "registry", "wrapper",
             "environments", "haproxy", "well_known", "mesos", "policy", "ignore", "history"},
            {"apiVersion", "name", "marathon", "consul", "registry", "wrapper", "environments"});
  if (!fields) return std::nullopt;
  model::Platform p;
  p.file = doc.file;
  for (const auto& f : *fields) {
    if (f.key == "apiVersion") {
      if (auto s = r.String(f)) {
        if (*s != model::kApiVersionV1) {
          r.Error(f.value_pos, "unsupported apiVersion " + Quote(*s), Quote(model::kApiVersionV1));
        }
        p.api_version = *s;
      }
    } else if (f.key == "name") {
      if (auto s = r.NonEmptyString(f, "the platform's name")) p.name = *s;
    } else if (f.key == "marathon") {
      auto m = r.Map(f, "marathon", {"urls"}, {"urls"});
      if (!m) continue;
      for (const auto& k : *m) {
        if (auto urls = r.StringList(k, "marathon.urls")) {
          if (urls->empty()) r.Error(k.value_pos, "marathon.urls is empty", "at least one URL");
          p.marathon_urls = *urls;
        }
      }
    } else if (f.key == "consul") {
      auto m = r.Map(f, "consul", {"url"}, {"url"});
      if (!m) continue;
      for (const auto& k : *m) {
        if (auto s = r.NonEmptyString(k, "a URL")) p.consul_url = *s;
      }
    } else if (f.key == "chronos") {
      auto m = r.Map(f, "chronos", {"url"}, {"url"});
      if (!m) continue;
      for (const auto& k : *m) {
        if (auto s = r.NonEmptyString(k, "a URL")) p.chronos_url = *s;
      }
    } else if (f.key == "registry") {
      if (auto s = r.NonEmptyString(f, "a registry host such as registry.local")) p.registry = *s;
    } else if (f.key == "wrapper") {
      if (f.value.IsSequence()) {
        if (auto l = r.StringList(f, "wrapper")) p.wrapper = *l;
      } else {
        auto m = r.Map(f, "wrapper", {"command", "restarts_on_kv_change"}, {"command"});
        if (!m) continue;
        for (const auto& k : *m) {
          if (k.key == "command") {
            if (auto l = r.StringList(k, "wrapper.command")) p.wrapper = *l;
          } else if (auto b = r.Bool(k)) {
            p.restarts_on_kv_change = *b;
          }
        }
      }
    } else if (f.key == "environments") {
      ParseEnvironments(r, f, p);
    } else if (f.key == "haproxy") {
      ParseHaproxy(r, f, p);
    } else if (f.key == "well_known") {
      ParseWellKnown(r, f, p);
    } else if (f.key == "mesos") {
      auto m = r.Map(f, "mesos", {"docker_stop_timeout"}, {});
      if (!m) continue;
      for (const auto& k : *m) {
        if (auto d = r.DurationSeconds(k)) p.docker_stop_timeout_s = *d;
      }
    } else if (f.key == "ignore") {
      auto m = r.Map(f, "ignore", {"marathon_app"}, {});
      if (!m) continue;
      for (const auto& k : *m) {
        if (auto l = r.StringList(k, "ignore.marathon_app")) {
          for (size_t i = 0; i < l->size(); ++i) {
            if (!IsIgnorablePointer((*l)[i])) {
              r.Error(
                  k.value_pos,
                  "ignore.marathon_app[" + std::to_string(i) + "] is " + Quote((*l)[i]),
                  "a JSON pointer into a Marathon app such as /instances or /labels/team, not /id");
            }
          }
          p.ignore_app_fields = *l;
        }
      }
    } else if (f.key == "policy") {
      if (auto b = r.Policy(f)) p.policy = *b;
    } else if (f.key == "history") {
      ParseHistory(r, f, p.history);
    }
  }
  return p;
}

}  // namespace galley::spec
