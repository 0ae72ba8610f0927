// SPDX-License-Identifier: Apache-2.0
#include "render/lb_model.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "base/digest.h"

namespace galley::render {
namespace {

using nlohmann::json;

bool SafeName(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == ':';
  });
}

// Text that goes into the config verbatim must not carry a line break or a quote.
bool SafeText(const std::string& s) {
  return std::none_of(s.begin(), s.end(),
                      [](char c) { return c == '\n' || c == '\r' || c == '"' || c == '\0'; });
}

json ModelBody(const LbModel& m) {
  const model::Platform& p = m.state.platform;
  json doc = json::object();
  doc["schema"] = kLbModelSchema;
  doc["platform"] = p.name;
  doc["maxconn"] = p.haproxy_maxconn;
  doc["instance"] = {{"name", m.instance.name},
                     {"role", model::HaproxyRoleName(m.instance.role)},
                     {"config_path", m.instance.config_path},
                     {"socket", m.instance.socket},
                     {"tls_certificate", m.instance.tls_certificate}};
  json envs = json::array();
  for (const auto& e : p.environments)
    envs.push_back(
        {{"name", e.name}, {"port_prefix", e.port_prefix}, {"host_prefix", e.host_prefix}});
  doc["environments"] = envs;
  json wk = json::array();
  for (const auto& w : p.well_known) {
    json servers = json::array();
    for (const auto& s : w.servers) servers.push_back({{"host", s.host}, {"port", s.port}});
    json one = {
        {"name", w.name}, {"listen", w.listen}, {"servers", servers}, {"check_path", w.check_path}};
    if (w.timeout_client_s) one["timeout_client_s"] = *w.timeout_client_s;
    if (w.timeout_server_s) one["timeout_server_s"] = *w.timeout_server_s;
    wk.push_back(one);
  }
  doc["well_known"] = wk;
  json services = json::array();
  for (const auto& s : m.state.services) {
    json ports = json::array();
    for (const auto& port : s.ports)
      ports.push_back({{"container", port.container}, {"expose", model::ExposeName(port.expose)}});
    json envs_of = json::array();
    for (const auto& e : s.environments) envs_of.push_back(e.name);
    json hosts = json::array();
    for (const auto& h : s.external_hosts) hosts.push_back(h.name);
    json one = {{"name", s.name},
                {"ports", ports},
                {"balance", s.balance},
                {"environments", envs_of},
                {"external_hosts", hosts}};
    if (s.health) one["health"] = {{"path", s.health->path}, {"interval_s", s.health->interval_s}};
    services.push_back(one);
  }
  doc["services"] = services;
  return doc;
}

std::string DigestOf(const json& body) { return "sha256:" + Sha256Hex(body.dump()); }

// Typed member access that names what is wrong.
class Reader {
 public:
  explicit Reader(std::string what) : what_(std::move(what)) {}
  const std::string& error() const { return error_; }
  bool ok() const { return error_.empty(); }

  const json* Member(const json& obj, const char* key, json::value_t type, const std::string& at,
                     bool optional = false) {
    if (!ok()) return nullptr;
    if (!obj.is_object()) {
      Fail(at + ": not an object");
      return nullptr;
    }
    auto it = obj.find(key);
    if (it == obj.end()) {
      if (!optional) Fail(at + "." + key + ": missing");
      return nullptr;
    }
    bool type_ok = it->type() == type || (type == json::value_t::number_integer &&
                                          it->type() == json::value_t::number_unsigned);
    if (!type_ok) {
      Fail(at + "." + key + ": expected " + TypeName(type) + ", got " + it->type_name());
      return nullptr;
    }
    return &*it;
  }
  std::string Str(const json& obj, const char* key, const std::string& at) {
    const json* v = Member(obj, key, json::value_t::string, at);
    return v ? v->get<std::string>() : std::string();
  }
  int Int(const json& obj, const char* key, const std::string& at, int lo, int hi) {
    const json* v = Member(obj, key, json::value_t::number_integer, at);
    if (!v) return 0;
    long long n = v->get<long long>();
    if (n < lo || n > hi) {
      Fail(at + "." + key + ": " + std::to_string(n) + " is outside " + std::to_string(lo) + ".." +
           std::to_string(hi));
      return 0;
    }
    return static_cast<int>(n);
  }
  void Fail(const std::string& message) {
    if (error_.empty()) error_ = what_ + ": " + message;
  }

 private:
  static std::string TypeName(json::value_t t) {
    switch (t) {
      case json::value_t::string:
        return "a string";
      case json::value_t::number_integer:
        return "an integer";
      case json::value_t::array:
        return "an array";
      case json::value_t::object:
        return "an object";
      case json::value_t::boolean:
        return "a boolean";
      default:
        return "a value";
    }
  }
  std::string what_;
  std::string error_;
};

}  // namespace

std::string LbModelKey(const std::string& platform, const std::string& instance) {
  return "galley/" + platform + "/haproxy/" + instance;
}
std::string AgentReportPrefix(const std::string& platform) {
  return "galley/" + platform + "/agents/";
}
std::string AgentReportKey(const std::string& platform, const std::string& node,
                           const std::string& instance) {
  return AgentReportPrefix(platform) + node + "/" + instance;
}

LbModel LbModelFor(const model::DesiredState& state, const model::HaproxyInstance& instance) {
  LbModel m;
  model::Platform& p = m.state.platform;
  p.name = state.platform.name;
  p.haproxy_maxconn = state.platform.haproxy_maxconn;
  for (const auto& e : state.platform.environments) {
    model::Environment env;
    env.name = e.name;
    env.port_prefix = e.port_prefix;
    env.host_prefix = e.host_prefix;
    p.environments.push_back(env);
  }
  for (const auto& w : state.platform.well_known) {
    model::WellKnown wk;
    wk.name = w.name;
    wk.listen = w.listen;
    wk.servers = w.servers;
    wk.check_path = w.check_path;
    wk.timeout_client_s = w.timeout_client_s;
    wk.timeout_server_s = w.timeout_server_s;
    p.well_known.push_back(wk);
  }
  for (const auto& s : state.services) {
    model::Service svc;
    svc.name = s.name;
    for (const auto& port : s.ports) {
      model::Port pt;
      pt.container = port.container;
      pt.expose = port.expose;
      svc.ports.push_back(pt);
    }
    if (s.health) {
      model::Health h;
      h.path = s.health->path;
      h.interval_s = s.health->interval_s;
      svc.health = h;
    }
    svc.balance = s.balance;
    for (const auto& h : s.external_hosts) svc.external_hosts.push_back({h.name, {}});
    for (const auto& e : s.environments) {
      model::ServiceEnvironment se;
      se.name = e.name;
      svc.environments.push_back(se);
    }
    m.state.services.push_back(std::move(svc));
  }
  std::sort(m.state.services.begin(), m.state.services.end(),
            [](const model::Service& a, const model::Service& b) { return a.name < b.name; });
  m.instance.name = instance.name;
  m.instance.role = instance.role;
  m.instance.config_path = instance.config_path;
  m.instance.socket = instance.socket;
  m.instance.tls_certificate = instance.tls_certificate;
  return m;
}

std::string LbModelDigest(const LbModel& model) { return DigestOf(ModelBody(model)); }

std::string LbModelToJson(const LbModel& model) {
  json body = ModelBody(model);
  std::string digest = DigestOf(body);
  body["digest"] = digest;
  return body.dump();
}

Result<LbModel> ParseLbModel(std::string_view text) {
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("LB model: not valid JSON");
  Reader r("LB model");
  if (!doc.is_object()) return Status::InvalidArgument("LB model: not a JSON object");
  const json* schema = r.Member(doc, "schema", json::value_t::number_integer, "$");
  if (schema && schema->get<long long>() != kLbModelSchema)
    r.Fail("$.schema: version " + schema->dump() + " is not the supported " +
           std::to_string(kLbModelSchema) + " (a newer galley wrote it?)");
  std::string digest = r.Str(doc, "digest", "$");
  LbModel m;
  model::Platform& p = m.state.platform;
  p.name = r.Str(doc, "platform", "$");
  p.haproxy_maxconn = r.Int(doc, "maxconn", "$", 1, 10000000);
  if (const json* in = r.Member(doc, "instance", json::value_t::object, "$")) {
    m.instance.name = r.Str(*in, "name", "$.instance");
    std::string role = r.Str(*in, "role", "$.instance");
    if (role == "internal") {
      m.instance.role = model::HaproxyRole::kInternal;
    } else if (role == "external") {
      m.instance.role = model::HaproxyRole::kExternal;
    } else if (r.ok()) {
      r.Fail("$.instance.role: \"" + role + "\" is neither internal nor external");
    }
    m.instance.config_path = r.Str(*in, "config_path", "$.instance");
    m.instance.socket = r.Str(*in, "socket", "$.instance");
    m.instance.tls_certificate = r.Str(*in, "tls_certificate", "$.instance");
    if (r.ok() && !SafeName(m.instance.name)) r.Fail("$.instance.name: not a safe name");
    if (r.ok() && !(SafeText(m.instance.socket) && SafeText(m.instance.tls_certificate) &&
                    SafeText(m.instance.config_path)))
      r.Fail("$.instance: a path holds a line break or a quote");
  }
  if (const json* envs = r.Member(doc, "environments", json::value_t::array, "$")) {
    for (size_t i = 0; i < envs->size() && r.ok(); ++i) {
      std::string at = "$.environments[" + std::to_string(i) + "]";
      model::Environment e;
      e.name = r.Str((*envs)[i], "name", at);
      e.port_prefix = r.Str((*envs)[i], "port_prefix", at);
      e.host_prefix = r.Str((*envs)[i], "host_prefix", at);
      if (r.ok() && !SafeName(e.name)) r.Fail(at + ".name: not a safe name");
      if (r.ok() && !std::all_of(e.port_prefix.begin(), e.port_prefix.end(),
                                 [](char c) { return c >= '0' && c <= '9'; }))
        r.Fail(at + ".port_prefix: not digits");
      if (r.ok() && !e.host_prefix.empty() && !SafeName(e.host_prefix))
        r.Fail(at + ".host_prefix: not a safe name");
      p.environments.push_back(e);
    }
  }
  if (const json* wks = r.Member(doc, "well_known", json::value_t::array, "$")) {
    for (size_t i = 0; i < wks->size() && r.ok(); ++i) {
      std::string at = "$.well_known[" + std::to_string(i) + "]";
      const json& one = (*wks)[i];
      model::WellKnown w;
      w.name = r.Str(one, "name", at);
      w.listen = r.Int(one, "listen", at, 1, 65535);
      w.check_path = r.Str(one, "check_path", at);
      if (r.ok() && !SafeName(w.name)) r.Fail(at + ".name: not a safe name");
      if (r.ok() && !SafeText(w.check_path)) r.Fail(at + ".check_path: holds a line break");
      if (r.Member(one, "timeout_client_s", json::value_t::number_integer, at, true))
        w.timeout_client_s = r.Int(one, "timeout_client_s", at, 0, 86400);
      if (r.Member(one, "timeout_server_s", json::value_t::number_integer, at, true))
        w.timeout_server_s = r.Int(one, "timeout_server_s", at, 0, 86400);
      if (const json* servers = r.Member(one, "servers", json::value_t::array, at)) {
        for (size_t k = 0; k < servers->size() && r.ok(); ++k) {
          std::string sat = at + ".servers[" + std::to_string(k) + "]";
          model::WellKnownServer s;
          s.host = r.Str((*servers)[k], "host", sat);
          s.port = r.Int((*servers)[k], "port", sat, 1, 65535);
          if (r.ok() && !SafeName(s.host)) r.Fail(sat + ".host: not a host name or address");
          w.servers.push_back(s);
        }
      }
      p.well_known.push_back(w);
    }
  }
  if (const json* services = r.Member(doc, "services", json::value_t::array, "$")) {
    for (size_t i = 0; i < services->size() && r.ok(); ++i) {
      std::string at = "$.services[" + std::to_string(i) + "]";
      const json& one = (*services)[i];
      model::Service s;
      s.name = r.Str(one, "name", at);
      s.balance = r.Str(one, "balance", at);
      if (r.ok() && !SafeName(s.name)) r.Fail(at + ".name: not a safe name");
      if (r.ok() && !s.balance.empty() && !SafeName(s.balance))
        r.Fail(at + ".balance: not a balance algorithm");
      if (const json* ports = r.Member(one, "ports", json::value_t::array, at)) {
        for (size_t k = 0; k < ports->size() && r.ok(); ++k) {
          std::string pat = at + ".ports[" + std::to_string(k) + "]";
          model::Port port;
          port.container = r.Int((*ports)[k], "container", pat, 1, 65535);
          std::string expose = r.Str((*ports)[k], "expose", pat);
          if (expose == "http") {
            port.expose = model::Expose::kHttp;
          } else if (expose == "tcp") {
            port.expose = model::Expose::kTcp;
          } else if (expose == "none") {
            port.expose = model::Expose::kNone;
          } else if (r.ok()) {
            r.Fail(pat + ".expose: \"" + expose + "\" is not http, tcp or none");
          }
          s.ports.push_back(port);
        }
      }
      if (const json* envs = r.Member(one, "environments", json::value_t::array, at)) {
        for (size_t k = 0; k < envs->size() && r.ok(); ++k) {
          if (!(*envs)[k].is_string()) {
            r.Fail(at + ".environments[" + std::to_string(k) + "]: expected a string");
            break;
          }
          model::ServiceEnvironment se;
          se.name = (*envs)[k].get<std::string>();
          s.environments.push_back(se);
        }
      }
      if (const json* hosts = r.Member(one, "external_hosts", json::value_t::array, at)) {
        for (size_t k = 0; k < hosts->size() && r.ok(); ++k) {
          std::string hat = at + ".external_hosts[" + std::to_string(k) + "]";
          if (!(*hosts)[k].is_string() || !SafeName((*hosts)[k].get<std::string>())) {
            r.Fail(hat + ": expected a host name");
            break;
          }
          s.external_hosts.push_back({(*hosts)[k].get<std::string>(), {}});
        }
      }
      if (const json* h = r.Member(one, "health", json::value_t::object, at, true)) {
        model::Health health;
        health.path = r.Str(*h, "path", at + ".health");
        health.interval_s = r.Int(*h, "interval_s", at + ".health", 1, 86400);
        if (r.ok() && !SafeText(health.path)) r.Fail(at + ".health.path: holds a line break");
        s.health = health;
      }
      m.state.services.push_back(std::move(s));
    }
  }
  if (!r.ok()) return Status::InvalidArgument(r.error());
  std::string actual = LbModelDigest(m);
  if (digest != actual)
    return Status::InvalidArgument("LB model: $.digest " + digest +
                                   " does not match the content (" + actual +
                                   "): the key was edited by hand or truncated");
  return m;
}

std::string AgentReportToJson(const AgentReport& r) {
  json doc = {{"schema", r.schema},
              {"node", r.node},
              {"instance", r.instance},
              {"agent_version", r.agent_version},
              {"model_digest", r.model_digest},
              {"config_digest", r.config_digest},
              {"haproxy_pid", r.haproxy_pid},
              {"haproxy_started", r.haproxy_started},
              {"last_reload", r.last_reload},
              {"last_reload_reason", r.last_reload_reason},
              {"servers", r.servers},
              {"hand_changes", r.hand_changes},
              {"last_error", r.last_error},
              {"report_time", r.report_time}};
  return doc.dump();
}

Result<AgentReport> ParseAgentReport(std::string_view text) {
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    return Status::InvalidArgument("agent report: not a JSON object");
  Reader r("agent report");
  AgentReport out;
  out.schema = r.Int(doc, "schema", "$", 1, 1000000);
  out.node = r.Str(doc, "node", "$");
  out.instance = r.Str(doc, "instance", "$");
  out.agent_version = r.Str(doc, "agent_version", "$");
  out.model_digest = r.Str(doc, "model_digest", "$");
  out.config_digest = r.Str(doc, "config_digest", "$");
  out.haproxy_pid = r.Int(doc, "haproxy_pid", "$", 0, 1 << 30);
  out.haproxy_started = r.Str(doc, "haproxy_started", "$");
  out.last_reload = r.Str(doc, "last_reload", "$");
  out.last_reload_reason = r.Str(doc, "last_reload_reason", "$");
  if (const json* servers = r.Member(doc, "servers", json::value_t::object, "$")) {
    for (auto it = servers->begin(); it != servers->end() && r.ok(); ++it) {
      if (!it->is_number_integer() || it->get<long long>() < 0) {
        r.Fail("$.servers." + it.key() + ": expected a count");
        break;
      }
      out.servers[it.key()] = it->get<int>();
    }
  }
  if (const json* hand = r.Member(doc, "hand_changes", json::value_t::array, "$")) {
    for (size_t i = 0; i < hand->size() && r.ok(); ++i) {
      if (!(*hand)[i].is_string()) {
        r.Fail("$.hand_changes[" + std::to_string(i) + "]: expected a string");
        break;
      }
      out.hand_changes.push_back((*hand)[i].get<std::string>());
    }
  }
  out.last_error = r.Str(doc, "last_error", "$");
  out.report_time = r.Str(doc, "report_time", "$");
  if (!r.ok()) return Status::InvalidArgument(r.error());
  return out;
}

}  // namespace galley::render
