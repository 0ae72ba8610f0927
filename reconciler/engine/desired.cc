// SPDX-License-Identifier: Apache-2.0
#include "engine/desired.h"

#include <future>
#include <iterator>
#include <set>

#include "base/digest.h"
#include "base/file_io.h"
#include "base/strings.h"
#include "engine/view_text.h"
#include "render/consul_kv.h"
#include "render/marathon_app.h"

namespace galley::engine {

std::string SecretSource(const model::ConfigValue& v) {
  return (v.source == model::ConfigValue::Source::kSecretEnv ? "env:" : "file:") + v.text;
}

Result<std::string> ReadSecret(const std::string& source,
                               const std::map<std::string, std::string>& env) {
  if (StartsWith(source, "env:")) {
    auto it = env.find(source.substr(4));
    if (it == env.end() || it->second.empty()) {
      return Status::NotFound("secret variable " + source.substr(4) + " is not set");
    }
    return it->second;
  }
  if (StartsWith(source, "file:")) {
    auto text = ReadFileBounded(source.substr(5), 1u << 20);
    if (!text.ok())
      return Status::NotFound("secret file " + source.substr(5) + ": " + text.status().message());
    std::string s = std::move(*text);
    if (!s.empty() && s.back() == '\n') s.pop_back();  // files usually end with a newline
    return s;
  }
  return Status::InvalidArgument("unknown secret source '" + source + "'");
}

std::vector<std::string> UnreadableSecrets(
    const Plan& plan, const std::function<Result<std::string>(const std::string&)>& read_secret) {
  std::map<std::string, std::string> problems;  // key → line
  auto check = [&](const std::string& key, const Action& a, const std::string& source) {
    if (problems.count(key)) return;
    std::string why;
    if (!read_secret) {
      why = "secret " + source + " cannot be read here";
    } else if (auto v = read_secret(source); !v.ok()) {
      why = v.status().message();
    } else {
      return;
    }
    problems[key] = key + " (service " + a.service + ", environment " + a.env + "): " + why;
  };
  for (const auto& a : plan.actions) {
    if (a.kind == ActionKind::kKvPut && a.desired.is_object() && a.desired.contains("secret") &&
        a.desired["secret"].is_string()) {
      check(a.target, a, a.desired["secret"].get<std::string>());
    }
    if (IsAppAction(a.kind) && a.config.is_object()) {
      for (auto it = a.config.begin(); it != a.config.end(); ++it) {
        if (it->is_object() && it->contains("secret") && (*it)["secret"].is_string()) {
          check(render::KvPrefix(a.env, a.service) + "/" + it.key(), a,
                (*it)["secret"].get<std::string>());
        }
      }
    }
  }
  std::vector<std::string> out;
  for (auto& [key, line] : problems) out.push_back(std::move(line));
  return out;
}

SecretResolver EnvironmentSecrets(std::map<std::string, std::string> env) {
  return [env = std::move(env)](const model::ConfigValue& v) -> std::optional<std::string> {
    if (!v.secret()) return v.text;
    auto value = ReadSecret(SecretSource(v), env);
    if (!value.ok()) return std::nullopt;
    return *value;
  };
}

std::optional<std::string> ConfigDigest(
    const std::string& hmac_key,
    const std::map<std::string, std::optional<std::string>>& value_hmacs) {
  std::string lines;
  for (const auto& [k, h] : value_hmacs) {
    if (!h) return std::nullopt;
    lines += k + "=" + *h + "\n";
  }
  return HmacSha256Hex(hmac_key, lines);
}

std::string EnvAppPrefix(const std::string& env) {
  return std::string("/") + model::kAppRoot + "/" + env + "/";
}
std::string EnvKvPrefix(const std::string& env) {
  return std::string(model::kAppRoot) + "/" + env + "/";
}

std::vector<std::string> ManagedAppPrefixes(const model::Platform& p) {
  std::vector<std::string> out;
  for (const auto& e : p.environments) out.push_back(EnvAppPrefix(e.name));
  return out;
}

std::vector<std::string> ManagedKvPrefixes(const model::Platform& p) {
  std::vector<std::string> out;
  for (const auto& e : p.environments) out.push_back(EnvKvPrefix(e.name));
  return out;
}

std::vector<std::string> RemovedEnvironments(const model::Platform& p,
                                             const std::vector<std::string>& applied) {
  std::set<std::string> out;
  const std::string root = std::string(model::kAppRoot) + "/";
  for (const auto& s : applied) {
    std::string rest = StartsWith(s, "/" + root) ? s.substr(root.size() + 1)
                       : StartsWith(s, root)     ? s.substr(root.size())
                                                 : "";
    size_t slash = rest.find('/');
    if (slash == std::string::npos || slash == 0) continue;
    std::string env = rest.substr(0, slash);
    if (!p.FindEnvironment(env)) out.insert(env);
  }
  return {out.begin(), out.end()};
}

std::string HmacKeyKey(const model::Platform& p) { return "galley/" + p.name + "/hmac-key"; }
std::string AppliedPrefix(const model::Platform& p) { return "galley/" + p.name + "/applied/"; }

namespace {

// The rendered app (insertion-ordered) as the planner's JSON, the value parse(dump()) would
// give — non-negative integers become unsigned as the parser makes them — without the text.
nlohmann::json ToPlainJson(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::object: {
      nlohmann::json out = nlohmann::json::object();
      for (auto it = j.begin(); it != j.end(); ++it) out[it.key()] = ToPlainJson(*it);
      return out;
    }
    case nlohmann::ordered_json::value_t::array: {
      nlohmann::json out = nlohmann::json::array();
      out.get_ref<nlohmann::json::array_t&>().reserve(j.size());
      for (const auto& v : j) out.push_back(ToPlainJson(v));
      return out;
    }
    case nlohmann::ordered_json::value_t::string:
      return j.get_ref<const std::string&>();
    case nlohmann::ordered_json::value_t::boolean:
      return j.get<bool>();
    case nlohmann::ordered_json::value_t::number_integer: {
      int64_t v = j.get<int64_t>();
      if (v >= 0) return static_cast<uint64_t>(v);
      return v;
    }
    case nlohmann::ordered_json::value_t::number_unsigned:
      return j.get<uint64_t>();
    case nlohmann::ordered_json::value_t::number_float:
      return j.get<double>();
    default:
      return nullptr;  // null, and the binary/discarded values a renderer never makes
  }
}

// The apps and keys of services [begin, end), in order.
void BuildServices(const model::DesiredState& state, size_t begin, size_t end,
                   const SecretResolver& secrets, const std::string& hmac_key,
                   const std::map<std::string, std::string>& applied_kv, DesiredSet* out) {
  const model::Platform& p = state.platform;
  for (size_t i = begin; i < end; ++i) {
    const model::Service& s = state.services[i];
    for (const auto& env : p.environments) {
      const model::ServiceEnvironment* se = s.FindEnvironment(env.name);
      if (!se) continue;
      bool paused = s.paused || se->paused || env.paused;
      std::map<std::string, std::optional<std::string>> hmacs;
      nlohmann::json config = nlohmann::json::object();
      for (const auto& entry : render::RenderServiceKv(s, *se)) {
        DesiredKv kv{s.name, env.name, entry.key, std::nullopt, entry.value.secret(), "", paused};
        if (entry.value.secret()) {
          kv.secret_source = SecretSource(entry.value);
        }
        kv.value = secrets(entry.value);
        std::string name = entry.key.substr(entry.key.rfind('/') + 1);
        config[name] = kv.secret ? nlohmann::json{{"secret", kv.secret_source}}
                                 : nlohmann::json{{"value", *kv.value}};
        if (kv.value && !hmac_key.empty()) {
          hmacs[name] = HmacSha256Hex(hmac_key, *kv.value);
        } else if (auto it = applied_kv.find(entry.key);
                   it != applied_kv.end() && !hmac_key.empty()) {
          // Applied records mark secrets "secret:<HMAC>"; the digest is over the HMAC alone.
          hmacs[name] = StartsWith(it->second, "secret:") ? it->second.substr(7) : it->second;
        } else {
          hmacs[name] = std::nullopt;
        }
        out->kv.push_back(std::move(kv));
      }
      nlohmann::json body = ToPlainJson(render::RenderMarathonApp(p, s, *se));
      bool known_after_apply = false;
      if (!p.restarts_on_kv_change) {
        std::optional<std::string> digest =
            hmac_key.empty() ? std::nullopt : ConfigDigest(hmac_key, hmacs);
        body["labels"][kConfigDigestLabel] = digest ? *digest : kDigestUnknown;
        if (!digest) known_after_apply = true;
      }
      std::vector<std::string> ignore = p.ignore_app_fields;
      ignore.insert(ignore.end(), s.ignore.begin(), s.ignore.end());
      out->apps.push_back(DesiredApp{s.name, env.name, render::MarathonAppId(env.name, s.name),
                                     std::move(body), std::move(ignore), paused,
                                     known_after_apply ? std::move(config) : nlohmann::json()});
    }
  }
}

}  // namespace

DesiredSet BuildDesired(const model::DesiredState& state, const SecretResolver& secrets,
                        const std::string& hmac_key,
                        const std::map<std::string, std::string>& applied_kv) {
  DesiredSet out;
  for (const auto& e : render::RenderPlatformKv(state.platform)) {
    out.kv.push_back(DesiredKv{"", "", e.key, e.value.text, false, "", false});
  }
  // Rendering is pure: a large repository is rendered in two halves on two threads (the
  // secret resolver and the HMACs are thread-safe), joined in order.
  const size_t n = state.services.size();
  if (n < 64) {
    BuildServices(state, 0, n, secrets, hmac_key, applied_kv, &out);
    return out;
  }
  DesiredSet second;
  auto later = std::async(std::launch::async, [&] {
    BuildServices(state, n / 2, n, secrets, hmac_key, applied_kv, &second);
  });
  BuildServices(state, 0, n / 2, secrets, hmac_key, applied_kv, &out);
  later.get();
  out.apps.insert(out.apps.end(), std::make_move_iterator(second.apps.begin()),
                  std::make_move_iterator(second.apps.end()));
  out.kv.insert(out.kv.end(), std::make_move_iterator(second.kv.begin()),
                std::make_move_iterator(second.kv.end()));
  return out;
}

namespace {

// The app body as SafeDump (the canonical text) would write it with the config-digest label
// removed, without copying the body (only its labels, when they hold the label).
void AppendBodyWithoutDigestLabel(const nlohmann::json& body, std::string* out) {
  if (!body.is_object()) {
    out->append(SafeDump(body));
    return;
  }
  out->push_back('{');
  bool first = true;
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (!first) out->push_back(',');
    first = false;
    out->append(SafeDump(it.key())).push_back(':');
    if (it.key() == "labels" && it->is_object() && it->contains(kConfigDigestLabel)) {
      nlohmann::json labels = *it;
      labels.erase(kConfigDigestLabel);
      out->append(SafeDump(labels));
    } else {
      out->append(SafeDump(*it));
    }
  }
  out->push_back('}');
}

}  // namespace

std::map<std::string, std::string> DesiredDigests(const std::vector<DesiredApp>& apps,
                                                  const std::vector<DesiredKv>& kv,
                                                  const std::vector<std::string>& environments,
                                                  const std::set<std::string>& targets,
                                                  const std::vector<DesiredModel>& models) {
  std::set<std::string> envs(environments.begin(), environments.end());
  auto in_scope = [&](const std::string& service, const std::string& env) {
    if (service.empty() && env.empty()) return targets.empty();
    return envs.count(env) && (targets.empty() || targets.count(service));
  };
  auto group = [](const std::string& service, const std::string& env) {
    return service.empty() && env.empty() ? std::string("(platform)") : env + "/" + service;
  };
  // Each group's digest is over the canonical JSON of
  //   {"app": {"body": <body without the config-digest label>, "id", "ignore", "paused"},
  //    "kv": {KEY: {"paused", "value"} | {"paused", "secret"}}, "models": {INSTANCE: digest}}
  // (members present only when the group has them; a later app or key of the same name
  // wins). Written member by member: the bodies are not copied into a document first.
  struct Group {
    const DesiredApp* app = nullptr;
    std::map<std::string, const DesiredKv*> kv;
    std::map<std::string, std::string> models;
  };
  std::map<std::string, Group> groups;
  for (const auto& a : apps) {
    if (in_scope(a.service, a.env)) groups[group(a.service, a.env)].app = &a;
  }
  for (const auto& k : kv) {
    if (in_scope(k.service, k.env)) groups[group(k.service, k.env)].kv[k.key] = &k;
  }
  if (targets.empty()) {
    for (const auto& m : models) groups["(platform)"].models[m.instance] = m.digest;
  }
  std::map<std::string, std::string> out;
  std::string text;
  for (const auto& [name, g] : groups) {
    text.assign("{");
    if (g.app) {
      const DesiredApp& a = *g.app;
      text.append("\"app\":{\"body\":");
      AppendBodyWithoutDigestLabel(a.body, &text);
      text.append(",\"id\":").append(SafeDump(a.id));
      text.append(",\"ignore\":").append(SafeDump(a.ignore));
      text.append(",\"paused\":").append(a.paused ? "true" : "false").append("}");
    }
    if (!g.kv.empty()) {
      if (text.size() > 1) text.push_back(',');
      text.append("\"kv\":{");
      bool first = true;
      for (const auto& [key, k] : g.kv) {
        if (!first) text.push_back(',');
        first = false;
        text.append(SafeDump(key)).append(":{\"paused\":").append(k->paused ? "true" : "false");
        if (k->secret) {
          text.append(",\"secret\":").append(SafeDump(k->secret_source));
        } else {
          text.append(",\"value\":").append(SafeDump(k->value.value_or("")));
        }
        text.push_back('}');
      }
      text.push_back('}');
    }
    if (!g.models.empty()) {
      if (text.size() > 1) text.push_back(',');
      text.append("\"models\":").append(SafeDump(g.models));
    }
    text.push_back('}');
    out[name] = Sha256Hex(text);
  }
  return out;
}

std::vector<std::string> DesiredDifferences(const std::map<std::string, std::string>& planned,
                                            const std::map<std::string, std::string>& now) {
  std::vector<std::string> out;
  for (const auto& [name, digest] : planned) {
    auto it = now.find(name);
    if (it == now.end()) {
      out.push_back(name + ": in the plan, no longer declared");
    } else if (it->second != digest) {
      out.push_back(name + ": changed since the plan");
    }
  }
  for (const auto& [name, digest] : now) {
    if (!planned.count(name)) out.push_back(name + ": declared, not in the plan");
  }
  return out;
}

}  // namespace galley::engine
