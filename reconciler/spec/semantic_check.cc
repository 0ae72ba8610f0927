// SPDX-License-Identifier: Apache-2.0
#include "spec/semantic_check.h"

#include <filesystem>
#include <map>
#include <set>

#include "base/strings.h"
#include "spec/parse_jobs.h"

namespace galley::spec {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

bool IsLabel(const std::string& label, bool lower_only) {
  if (label.empty() || label.size() > 63) return false;
  auto ok = [&](char c) { return lower_only ? IsLowerAlnum(c) : IsAlnum(c); };
  if (!ok(label.front()) || !ok(label.back())) return false;
  for (char c : label) {
    if (!ok(c) && c != '-') return false;
  }
  return true;
}

bool IsHttpPath(const std::string& p) {
  if (p.empty() || p[0] != '/' || p.size() > 1024) return false;
  for (char c : p) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || c == '#' || c == '"' || c == '\\') return false;
  }
  return true;
}

bool IsUrl(const std::string& u) {
  std::string rest;
  if (StartsWith(u, "http://")) {
    rest = u.substr(7);
  } else if (StartsWith(u, "https://")) {
    rest = u.substr(8);
  } else {
    return false;
  }
  if (rest.empty() || rest[0] == '/' || rest[0] == ':') return false;
  for (char c : rest) {
    unsigned char x = static_cast<unsigned char>(c);
    if (x <= 0x20 || x >= 0x7F) return false;
  }
  return true;
}

bool IsPlainName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_') return false;
  }
  return true;
}

bool IsImageName(const std::string& s) {
  if (s.empty() || s.size() > 255) return false;
  for (const auto& part : Split(s, '/')) {
    if (part.empty() || !IsLowerAlnum(part.front()) || !IsLowerAlnum(part.back())) return false;
    for (char c : part) {
      if (!IsLowerAlnum(c) && c != '.' && c != '_' && c != '-') return false;
    }
  }
  return true;
}

bool IsRegistry(const std::string& s) {
  if (s.empty() || s.size() > 255) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '.' && c != '-' && c != ':' && c != '/' && c != '_') return false;
  }
  return s.front() != '/' && s.back() != '/';
}

struct Claim {
  std::string who;
  SourcePos pos;
};

std::string Describe(const Claim& c) { return c.who + " (" + FormatPos(c.pos) + ")"; }

class Checker {
 public:
  Checker(const model::DesiredState& s, const std::string& repo, Diagnostics& d)
      : state_(s), p_(s.platform), repo_(repo), diags_(d) {}

  void Run() {
    CheckPlatform();
    std::map<std::string, SourcePos> names;
    std::map<std::string, Claim> registered;
    for (const auto& svc : state_.services) {
      auto [it, inserted] = names.emplace(svc.name, svc.name_pos);
      if (!inserted && !svc.name.empty()) {
        diags_.Error(svc.name_pos, "service " + Quote(svc.name) + " is declared twice",
                     "unique service names; also declared at " + FormatPos(it->second));
      }
      CheckService(svc);
      for (const auto& port : svc.ExposedPorts()) {
        std::string rn = svc.RegisteredName(port.container);
        Claim c{"service " + Quote(svc.name), port.pos};
        auto [rit, fresh] = registered.emplace(rn, c);
        if (!fresh && rit->second.who != c.who) {
          diags_.Error(port.pos,
                       "registered name " + Quote(rn) + " is also used by " + Describe(rit->second),
                       "each Consul service name once");
        }
      }
    }
    CheckListenPorts();
    CheckExternalHosts();
  }

 private:
  void CheckPlatform() {
    SourcePos top{p_.file, 1, 1};
    if (!p_.name.empty() && !IsMarathonIdSegment(p_.name)) {
      diags_.Error(top, "platform name " + Quote(p_.name) + " is not a valid name",
                   "lower-case letters, digits and '-', like a Marathon id segment");
    }
    // A URL with credentials is refused without being printed (they come from the environment).
    auto check_url = [&](const char* what, const std::string& u) {
      if (u.find('@') != std::string::npos) {
        diags_.Error(
            top, std::string(what) + " URL has credentials in it (not shown)",
            "credentials come from the environment (GALLEY_MARATHON_USER, CONSUL_HTTP_TOKEN, ...)");
      } else if (!IsUrl(u)) {
        diags_.Error(top, std::string(what) + " URL " + Quote(u) + " is not an http(s) URL",
                     "http://host:port");
      }
    };
    for (const auto& u : p_.marathon_urls) check_url("marathon", u);
    if (!p_.consul_url.empty()) check_url("consul", p_.consul_url);
    if (!p_.chronos_url.empty()) check_url("chronos", p_.chronos_url);
    if (!p_.registry.empty() && !IsRegistry(p_.registry)) {
      diags_.Error(top, "registry " + Quote(p_.registry) + " is not a registry address",
                   "host[:port][/path]");
    }
    if (p_.wrapper.empty() && !p_.file.empty()) {
      diags_.Error(top, "wrapper is empty",
                   "the wrapper command and its Marathon and Consul addresses");
    }
    for (const auto& e : p_.environments) {
      if (!IsMarathonIdSegment(e.name)) {
        diags_.Error(
            e.pos, "environment name " + Quote(e.name) + " is not a valid Marathon id segment",
            "lower-case letters, digits and '-', starting and ending with a letter or digit");
      }
      if (!e.host_prefix.empty()) {
        std::string probe = e.host_prefix + "example.com";
        if (!IsHostName(probe)) {
          diags_.Error(e.pos,
                       "host_prefix " + Quote(e.host_prefix) + " does not make valid host names",
                       "letters, digits, '-' and '.', such as \"staging-\"");
        }
      }
    }
    std::set<std::string> lb_names;
    for (const auto& h : p_.haproxy) {
      if (!IsPlainName(h.name)) {
        diags_.Error(h.pos, "haproxy instance name " + Quote(h.name) + " is not a valid name",
                     "letters, digits, '-' and '_'");
      } else if (!lb_names.insert(h.name).second) {
        diags_.Error(h.pos, "haproxy instance " + Quote(h.name) + " is declared twice",
                     "unique names");
      }
      if (h.role == model::HaproxyRole::kExternal && h.tls_certificate.empty()) {
        diags_.Error(h.pos,
                     "external haproxy instance " + Quote(h.name) + " has no tls_certificate",
                     "the PEM file name that the HTTPS frontend serves");
      }
      if (!h.tls_certificate.empty()) {
        bool bad = h.tls_certificate.find("..") != std::string::npos || h.tls_certificate[0] == '/';
        for (char c : h.tls_certificate) {
          bad = bad || static_cast<unsigned char>(c) <= 0x20 || c == '"' || c == '$' || c == '\\';
        }
        if (bad) {
          diags_.Error(h.pos,
                       "tls_certificate " + Quote(h.tls_certificate) + " is not a plain file name",
                       "a PEM file name relative to ${GALLEY_CERT_DIR}, such as domain_com.pem");
        }
        if (h.role == model::HaproxyRole::kInternal) {
          diags_.Warning(
              h.pos, "tls_certificate on internal haproxy instance " + Quote(h.name) + " is unused",
              "tls_certificate only on external instances");
        }
      }
      for (const std::string* path : {&h.config_path, &h.socket}) {
        if (!path->empty() &&
            ((*path)[0] != '/' || path->find_first_of(" \t\n\"") != std::string::npos)) {
          diags_.Error(
              h.pos,
              "path " + Quote(*path) + " of haproxy instance " + Quote(h.name) + " is not usable",
              "an absolute path without spaces or quotes");
        }
      }
    }
    for (const auto& w : p_.well_known) {
      if (!IsMarathonIdSegment(w.name)) {
        diags_.Error(w.pos, "well-known service name " + Quote(w.name) + " is not a valid name",
                     "lower-case letters, digits and '-'");
      }
      if (!w.check_path.empty() && !IsHttpPath(w.check_path)) {
        diags_.Error(
            w.pos,
            "check path " + Quote(w.check_path) + " of " + Quote(w.name) + " is not an HTTP path",
            "a path starting with '/' without spaces or quotes");
      }
      for (const auto& s : w.servers) {
        if (!IsHostName(s.host) && !IsIpv4(s.host)) {
          diags_.Error(w.pos,
                       "server host " + Quote(s.host) + " of " + Quote(w.name) +
                           " is not a host name or address",
                       "a host name or an IPv4 address");
        }
      }
    }
  }

  static bool IsIpv4(const std::string& s) {
    auto parts = Split(s, '.');
    if (parts.size() != 4) return false;
    for (const auto& p : parts) {
      if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos)
        return false;
      if (std::stoi(p) > 255) return false;
    }
    return true;
  }

  void CheckConfig(const model::ConfigMap& config) {
    for (const auto& [key, v] : config) {
      if (!IsConfigKey(key)) {
        diags_.Error(
            v.pos, "config key " + Quote(key) + " is not a valid variable name",
            "upper-case letters, digits and '_', not starting with a digit ([A-Z_][A-Z0-9_]*)");
        continue;
      }
      bool reserved =
          key == "SERVICE_NAME" || key == "SERVICE_TAGS" || key == "HOST" || key == "PORT" ||
          key == "PORTS" || StartsWith(key, "MARATHON_") || StartsWith(key, "MESOS_") ||
          (StartsWith(key, "PORT") && key.find_first_not_of("0123456789", 4) == std::string::npos);
      if (reserved) {
        diags_.Error(
            v.pos, "config key " + Quote(key) + " is set by the platform",
            "a name other than SERVICE_NAME, SERVICE_TAGS, HOST, PORT*, MARATHON_* and MESOS_*");
      }
      if (v.source == model::ConfigValue::Source::kSecretEnv && !IsEnvName(v.text)) {
        diags_.Error(v.pos, "secret_env " + Quote(v.text) + " is not an environment variable name",
                     "letters, digits and '_', not starting with a digit");
      } else if (v.source == model::ConfigValue::Source::kSecretEnv &&
                 (StartsWith(v.text, "GALLEY_") || StartsWith(v.text, "CONSUL_HTTP_"))) {
        // Would copy galley's own credentials (HMAC key, tokens) into an app's KV on apply.
        diags_.Error(v.pos,
                     "secret_env " + Quote(v.text) + " names one of galley's own credentials",
                     "a variable other than GALLEY_* and CONSUL_HTTP_*");
      }
      if (v.source == model::ConfigValue::Source::kSecretFile) CheckSecretFile(v);
    }
  }

  static bool IsEnvName(const std::string& s) {
    if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
    for (char c : s) {
      if (!IsAlnum(c) && c != '_') return false;
    }
    return true;
  }

  void CheckSecretFile(const model::ConfigValue& v) {
    namespace fs = std::filesystem;
    if (v.text.empty() || v.text[0] != '/') {
      diags_.Error(v.pos, "secret_file " + Quote(v.text) + " is not an absolute path",
                   "an absolute path outside the repository");
      return;
    }
    if (repo_.empty()) return;
    std::error_code ec;
    fs::path repo = fs::weakly_canonical(fs::absolute(repo_, ec), ec);
    fs::path file = fs::weakly_canonical(fs::path(v.text), ec);
    auto rel = file.lexically_relative(repo);
    if (!rel.empty() && *rel.begin() != "..") {
      diags_.Error(v.pos, "secret_file " + Quote(v.text) + " is inside the repository",
                   "a path outside the repository: secrets are never stored in Git");
    }
  }

  void CheckService(const model::Service& svc) {
    if (svc.name.empty()) return;  // already reported by the parser
    if (!IsMarathonIdSegment(svc.name)) {
      diags_.Error(svc.name_pos,
                   "service name " + Quote(svc.name) + " is not a valid Marathon id segment",
                   "lower-case letters, digits and '-', starting and ending with a letter or "
                   "digit, at most 63");
    }
    std::string stem = std::filesystem::path(svc.file).stem().string();
    if (!svc.file.empty() && stem != svc.name) {
      diags_.Warning(svc.name_pos,
                     "service " + Quote(svc.name) + " is defined in " + Quote(stem + ".yaml"),
                     "the file to be named after the service, " + svc.name + ".yaml");
    }
    if (!svc.image.empty() && !IsImageName(svc.image)) {
      diags_.Error(svc.name_pos,
                   "image " + Quote(svc.image) + " is not a valid image repository name",
                   "lower-case letters, digits and '.', '_', '-', '/' separators");
    }
    if (!svc.registry.empty() && !IsRegistry(svc.registry)) {
      diags_.Error(svc.name_pos, "registry " + Quote(svc.registry) + " is not a registry address",
                   "host[:port][/path]");
    }
    std::map<int, SourcePos> seen_ports;
    for (const auto& port : svc.ports) {
      auto [it, fresh] = seen_ports.emplace(port.container, port.pos);
      if (!fresh) {
        diags_.Error(port.pos,
                     "container port " + std::to_string(port.container) + " is listed twice",
                     "each port once; first at line " + std::to_string(it->second.line));
      }
    }
    if (svc.health && !svc.health->path.empty() && !IsHttpPath(svc.health->path)) {
      diags_.Error(svc.health->pos,
                   "health path " + Quote(svc.health->path) + " is not an HTTP path",
                   "a path starting with '/' without spaces, quotes or '#'");
    }
    if (svc.health && svc.ports.empty()) {
      diags_.Error(svc.health->pos,
                   "service " + Quote(svc.name) + " has a health check but no ports",
                   "a port for Marathon's health check to probe (portIndex 0)");
    }
    if (svc.health && svc.health->interval_s == 0) {
      diags_.Error(svc.health->pos, "health interval is 0", "an interval of at least 1s");
    }
    std::set<std::string> env_names;
    for (const auto& e : p_.environments) env_names.insert(e.name);
    for (const auto& tag : svc.tags) {
      bool bad_chars = tag.empty();
      for (char c : tag)
        bad_chars = bad_chars || !(IsAlnum(c) || c == '-' || c == '_' || c == '.' || c == ':');
      if (bad_chars) {
        diags_.Error(
            svc.name_pos,
            "tag " + Quote(tag) + " of service " + Quote(svc.name) + " has invalid characters",
            "letters, digits, '-', '_', '.', ':' (SERVICE_TAGS is comma-separated)");
      } else if (env_names.count(tag) || StartsWith(tag, "internal-listen-")) {
        diags_.Error(svc.name_pos,
                     "tag " + Quote(tag) + " of service " + Quote(svc.name) +
                         " collides with a generated tag",
                     "a tag that is not an environment name or internal-listen-*; galley adds "
                     "those from environments and ports");
      } else if (StartsWith(tag, "balance-")) {
        diags_.Error(svc.name_pos,
                     "tag " + Quote(tag) + " of service " + Quote(svc.name) +
                         " collides with a generated tag",
                     "the balance key", "did you mean 'balance: " + tag.substr(8) + "'?");
      }
    }
    std::set<std::string> hosts;
    for (const auto& h : svc.external_hosts) {
      if (!IsHostName(h.name) || h.name.find('.') == std::string::npos) {
        diags_.Error(h.pos, "external host " + Quote(h.name) + " is not a host name",
                     "a fully qualified host name such as app.example.com");
      } else if (!hosts.insert(h.name).second) {
        diags_.Error(h.pos, "external host " + Quote(h.name) + " is listed twice",
                     "each host once");
      }
    }
    bool has_http = false;
    for (const auto& port : svc.ports) has_http = has_http || port.expose == model::Expose::kHttp;
    if (!svc.external_hosts.empty() && !has_http) {
      diags_.Error(svc.external_hosts.front().pos,
                   "service " + Quote(svc.name) + " has external_hosts but no HTTP port",
                   "a port with expose: http for the external frontends to route to");
    }
    CheckConfig(svc.config);
    if (svc.environments.empty()) {
      diags_.Warning(svc.name_pos, "service " + Quote(svc.name) + " is declared in no environment",
                     "an environments mapping naming where it runs");
    }
    std::vector<std::string> declared(env_names.begin(), env_names.end());
    for (const auto& e : svc.environments) {
      if (!env_names.count(e.name)) {
        std::string guess = ClosestMatch(e.name, declared);
        diags_.Error(e.pos,
                     "environment " + Quote(e.name) + " is not declared in " +
                         (p_.file.empty() ? "galley.yaml" : p_.file),
                     "one of: " + Join(declared, ", "),
                     guess.empty() ? "" : "did you mean " + Quote(guess) + "?");
      }
      if (!e.tag.empty() && !IsImageTag(e.tag)) {
        diags_.Error(e.tag_pos, "tag " + Quote(e.tag) + " is not a valid image tag",
                     "letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'");
      } else if (e.tag == "latest") {
        diags_.Error(e.tag_pos, "tag 'latest' moves",
                     "an immutable build tag such as master-<commit>-<build>");
      }
      CheckConfig(e.config);
    }
    CheckKillGrace(svc);
  }

  void CheckKillGrace(const model::Service& svc) {
    if (svc.ExposedPorts().empty()) return;
    int inter = svc.health ? svc.health->interval_s : kDefaultCheckIntervalS;
    int needed = inter * kHaproxyFall + kHaproxyCheckTimeoutS + kDrainAllowanceS;
    std::optional<int> grace = svc.kill_grace_s ? svc.kill_grace_s : p_.docker_stop_timeout_s;
    int g = grace.value_or(0);
    if (g >= needed) return;
    std::string source = svc.kill_grace_s ? "kill_grace"
                         : grace          ? "mesos.docker_stop_timeout"
                                          : "no kill_grace or mesos.docker_stop_timeout";
    diags_.Warning(
        svc.name_pos,
        "service " + Quote(svc.name) + ": task kill grace " + std::to_string(g) + "s (" + source +
            ") is shorter than HAProxy's detection time " + std::to_string(needed) + "s (inter " +
            std::to_string(inter) + "s x fall " + std::to_string(kHaproxyFall) +
            " + check timeout " + std::to_string(kHaproxyCheckTimeoutS) + "s + " +
            std::to_string(kDrainAllowanceS) + "s to drain); requests to a stopping task can fail",
        "kill_grace of at least " + std::to_string(needed) + "s");
  }

  void CheckListenPorts() {
    std::map<int, Claim> claims;
    auto claim = [&](int port, Claim c) {
      auto [it, fresh] = claims.emplace(port, c);
      if (!fresh) {
        diags_.Error(
            c.pos,
            "listen port " + std::to_string(port) + " of " + c.who + " is already used by " +
                Describe(it->second),
            "a listen port unique across all environments, well-known services and 80/443");
      }
    };
    bool external = false;
    for (const auto& h : p_.haproxy) external = external || h.role == model::HaproxyRole::kExternal;
    if (external) {
      claims.emplace(80, Claim{"the external HTTP frontend", SourcePos{p_.file, 0, 0}});
      claims.emplace(443, Claim{"the external HTTPS frontend", SourcePos{p_.file, 0, 0}});
    }
    for (const auto& w : p_.well_known) {
      if (w.listen > 0) claim(w.listen, Claim{"well-known service " + Quote(w.name), w.listen_pos});
    }
    for (const auto& e : p_.environments) {
      for (const auto& svc : state_.services) {
        if (!svc.FindEnvironment(e.name)) continue;
        for (const auto& port : svc.ExposedPorts()) {
          std::string text = e.port_prefix + std::to_string(port.container);
          long long listen = std::stoll(text);
          std::string who = "service " + Quote(svc.name) + " in " + e.name;
          if (listen > 65535) {
            diags_.Error(port.pos, "listen port " + text + " of " + who + " is above 65535",
                         "container port " + std::to_string(port.container) + " with prefix " +
                             Quote(e.port_prefix) + " to stay at most 65535");
            continue;
          }
          claim(static_cast<int>(listen), Claim{who, port.pos});
        }
      }
    }
  }

  void CheckExternalHosts() {
    std::map<std::string, Claim> claims;
    for (const auto& e : p_.environments) {
      for (const auto& svc : state_.services) {
        if (!svc.FindEnvironment(e.name)) continue;
        for (const auto& h : svc.external_hosts) {
          std::string full = e.host_prefix + h.name;
          Claim c{"service " + Quote(svc.name) + " in " + e.name, h.pos};
          auto [it, fresh] = claims.emplace(full, c);
          if (!fresh && it->second.who != c.who) {
            diags_.Error(h.pos,
                         "external host " + Quote(full) + " of " + c.who +
                             " is already routed to " + Describe(it->second),
                         "each host name routed to one service per environment");
          }
        }
      }
    }
  }

  const model::DesiredState& state_;
  const model::Platform& p_;
  std::string repo_;
  Diagnostics& diags_;
};

}  // namespace

bool IsMarathonIdSegment(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (const auto& label : Split(s, '.')) {
    if (!IsLabel(label, true)) return false;
  }
  return true;
}

bool IsHostName(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  for (const auto& label : Split(s, '.')) {
    if (!IsLabel(label, false)) return false;
  }
  return true;
}

bool IsConfigKey(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool IsImageTag(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  if (s[0] == '.' || s[0] == '-') return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

void CheckSemantics(const model::DesiredState& state, const std::string& repo_dir,
                    Diagnostics& diags) {
  Checker(state, repo_dir, diags).Run();
  CheckJobs(state, diags);  // Chronos jobs (spec/parse_jobs.h)
}

}  // namespace galley::spec
