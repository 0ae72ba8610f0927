// SPDX-License-Identifier: Apache-2.0
#include "clients/endpoints.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>

#include "base/strings.h"
#include "net/url.h"

extern char** environ;  // POSIX

namespace galley::clients {
namespace {

using Env = std::map<std::string, std::string>;

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// The variable's value, trimmed; nullopt when unset or blank (blank counts as unset, as in
// Consul's own tools).
std::optional<std::string> Get(const Env& env, const char* name) {
  auto it = env.find(name);
  if (it == env.end()) return std::nullopt;
  std::string v = Trim(it->second);
  if (v.empty()) return std::nullopt;
  return v;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Validates `url` (shown to the user as `shown`) and returns it without trailing slashes,
// the scheme lower-cased. Errors name the source: "GALLEY_MARATHON_URL: 'ftp://x' is not an
// http(s) URL".
Result<std::string> CheckUrl(const std::string& source, const std::string& shown_raw,
                             const std::string& url) {
  const std::string shown = net::RedactUrl(shown_raw);  // never a password in a message
  size_t sep = url.find("://");
  std::string scheme = sep == std::string::npos ? "" : Lower(url.substr(0, sep));
  if (scheme != "http" && scheme != "https") {
    return Status::InvalidArgument(source + ": " + Quote(shown) + " is not an http(s) URL");
  }
  std::string normal = scheme + url.substr(sep);
  size_t host_start = sep + 3;
  size_t auth_end = normal.find_first_of("/?#", host_start);
  std::string authority = normal.substr(
      host_start, auth_end == std::string::npos ? std::string::npos : auth_end - host_start);
  if (authority.empty() || authority[0] == ':') {
    return Status::InvalidArgument(source + ": " + Quote(shown) + " has no host");
  }
  if (normal.find_first_of("?#", host_start) != std::string::npos) {
    return Status::InvalidArgument(source + ": " + Quote(shown) +
                                   " must not have a query or fragment");
  }
  if (normal.find_first_of(" \t\r\n") != std::string::npos) {
    return Status::InvalidArgument(source + ": " + Quote(shown) + " contains whitespace");
  }
  auto parsed = net::Url::Parse(normal);
  if (!parsed.ok()) {
    return Status::InvalidArgument(source + ": " + Quote(shown) + " is not a valid URL (" +
                                   parsed.status().message() + ")");
  }
  while (normal.size() > host_start && normal.back() == '/') normal.pop_back();
  return normal;
}

// Splits a comma-separated list of URLs (blank entries skipped) and checks each.
Status AppendUrls(const std::string& source, const std::string& list,
                  std::vector<std::string>* out) {
  for (const std::string& part : Split(list, ',')) {
    std::string u = Trim(part);
    if (u.empty()) continue;
    auto checked = CheckUrl(source, u, u);
    if (!checked.ok()) return checked.status();
    out->push_back(std::move(checked).value());
  }
  return Status::Ok();
}

// Go's strconv.ParseBool, which Consul's CLI uses for CONSUL_HTTP_SSL.
std::optional<bool> ParseGoBool(const std::string& s) {
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (s == t) return true;
  }
  for (const char* f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (s == f) return false;
  }
  return std::nullopt;
}

Result<MarathonEndpoint> ResolveMarathon(const model::Platform& platform,
                                         const EndpointFlags& flags, const Env& env) {
  MarathonEndpoint m;
  for (const std::string& f : flags.marathon_urls) {
    RETURN_IF_ERROR(AppendUrls("--marathon", f, &m.urls));
  }
  m.source = "--marathon";
  if (m.urls.empty()) {
    if (auto v = Get(env, "GALLEY_MARATHON_URL")) {
      RETURN_IF_ERROR(AppendUrls("GALLEY_MARATHON_URL", *v, &m.urls));
      m.source = "GALLEY_MARATHON_URL";
    }
  }
  if (m.urls.empty()) {
    std::string source =
        (platform.file.empty() ? std::string("galley.yaml") : platform.file) + ": marathon.urls";
    for (const std::string& u : platform.marathon_urls) {
      RETURN_IF_ERROR(AppendUrls(source, u, &m.urls));
    }
    m.source = source;
  }
  if (m.urls.empty()) {
    for (const std::string& u : flags.fallback_marathon_urls) {
      RETURN_IF_ERROR(AppendUrls(flags.fallback_source, u, &m.urls));
    }
    m.source = flags.fallback_source;
  }
  if (m.urls.empty()) {
    return Status::InvalidArgument(
        "no Marathon URL: set --marathon, GALLEY_MARATHON_URL or marathon.urls in galley.yaml");
  }

  auto user = Get(env, "GALLEY_MARATHON_USER");
  auto password = Get(env, "GALLEY_MARATHON_PASSWORD");
  auto token = Get(env, "GALLEY_MARATHON_TOKEN");
  if (token && (user || password)) {
    return Status::InvalidArgument(
        "set either GALLEY_MARATHON_TOKEN (DC/OS) or GALLEY_MARATHON_USER and "
        "GALLEY_MARATHON_PASSWORD (basic "
        "auth), not both");
  }
  if (user && !password) {
    return Status::InvalidArgument(
        "GALLEY_MARATHON_USER is set but GALLEY_MARATHON_PASSWORD is not: basic auth "
        "needs both");
  }
  if (password && !user) {
    return Status::InvalidArgument(
        "GALLEY_MARATHON_PASSWORD is set but GALLEY_MARATHON_USER is not: basic auth "
        "needs both");
  }
  if (user && user->find(':') != std::string::npos) {
    return Status::InvalidArgument(
        "GALLEY_MARATHON_USER: a basic-auth user name cannot contain ':'");
  }
  if (user) {
    m.basic_user = *user;
    m.basic_password = *password;
  }
  if (token) m.token = *token;
  if (auto ca = Get(env, "GALLEY_CA_FILE")) m.ca_file = *ca;
  return m;
}

Result<ConsulEndpoint> ResolveConsul(const model::Platform& platform, const EndpointFlags& flags,
                                     const Env& env) {
  ConsulEndpoint c;
  std::string flag_url = Trim(flags.consul_url);
  if (!flag_url.empty()) {
    c.source = "--consul";
    ASSIGN_OR_RETURN(c.url, CheckUrl("--consul", flag_url, flag_url));
  } else if (auto v = Get(env, "GALLEY_CONSUL_URL")) {
    c.source = "GALLEY_CONSUL_URL";
    ASSIGN_OR_RETURN(c.url, CheckUrl("GALLEY_CONSUL_URL", *v, *v));
  } else if (auto addr = Get(env, "CONSUL_HTTP_ADDR")) {
    c.source = "CONSUL_HTTP_ADDR";
    if (addr->find("://") != std::string::npos) {
      ASSIGN_OR_RETURN(c.url, CheckUrl("CONSUL_HTTP_ADDR", *addr, *addr));
    } else {
      // host:port, as Consul's CLI takes it; CONSUL_HTTP_SSL=true selects https.
      if (addr->find_first_of("/?#@") != std::string::npos) {
        return Status::InvalidArgument("CONSUL_HTTP_ADDR: " + Quote(net::RedactUrl(*addr)) +
                                       " is neither host:port nor an http(s) URL");
      }
      std::string scheme = "http";
      if (auto ssl = Get(env, "CONSUL_HTTP_SSL")) {
        auto b = ParseGoBool(*ssl);
        if (!b) {
          return Status::InvalidArgument("CONSUL_HTTP_SSL: " + Quote(*ssl) + " is not a boolean");
        }
        if (*b) scheme = "https";
      }
      ASSIGN_OR_RETURN(c.url, CheckUrl("CONSUL_HTTP_ADDR", *addr, scheme + "://" + *addr));
    }
  } else if (!Trim(platform.consul_url).empty()) {
    std::string source =
        (platform.file.empty() ? std::string("galley.yaml") : platform.file) + ": consul.url";
    std::string u = Trim(platform.consul_url);
    c.source = source;
    ASSIGN_OR_RETURN(c.url, CheckUrl(source, u, u));
  } else if (!Trim(flags.fallback_consul_url).empty()) {
    std::string u = Trim(flags.fallback_consul_url);
    c.source = flags.fallback_source;
    ASSIGN_OR_RETURN(c.url, CheckUrl(flags.fallback_source, u, u));
  } else {
    return Status::InvalidArgument(
        "no Consul URL: set --consul, GALLEY_CONSUL_URL, CONSUL_HTTP_ADDR or consul.url in "
        "galley.yaml");
  }
  if (auto token = Get(env, "CONSUL_HTTP_TOKEN")) c.token = *token;
  if (auto ca = Get(env, "GALLEY_CA_FILE")) {
    c.ca_file = *ca;
  } else if (auto cacert = Get(env, "CONSUL_CACERT")) {
    c.ca_file = *cacert;
  }
  return c;
}

Result<ChronosEndpoint> ResolveChronos(const model::Platform& platform, const EndpointFlags& flags,
                                       const Env& env) {
  ChronosEndpoint c;
  std::string flag_url = Trim(flags.chronos_url);
  if (!flag_url.empty()) {
    c.source = "--chronos";
    ASSIGN_OR_RETURN(c.url, CheckUrl("--chronos", flag_url, flag_url));
  } else if (auto v = Get(env, "GALLEY_CHRONOS_URL")) {
    c.source = "GALLEY_CHRONOS_URL";
    ASSIGN_OR_RETURN(c.url, CheckUrl("GALLEY_CHRONOS_URL", *v, *v));
  } else if (!Trim(platform.chronos_url).empty()) {
    std::string source =
        (platform.file.empty() ? std::string("galley.yaml") : platform.file) + ": chronos.url";
    std::string u = Trim(platform.chronos_url);
    c.source = source;
    ASSIGN_OR_RETURN(c.url, CheckUrl(source, u, u));
  } else if (!Trim(flags.fallback_chronos_url).empty()) {
    std::string u = Trim(flags.fallback_chronos_url);
    c.source = flags.fallback_source;
    ASSIGN_OR_RETURN(c.url, CheckUrl(flags.fallback_source, u, u));
  }
  auto user = Get(env, "GALLEY_CHRONOS_USER");
  auto password = Get(env, "GALLEY_CHRONOS_PASSWORD");
  if (user && !password) {
    return Status::InvalidArgument(
        "GALLEY_CHRONOS_USER is set but GALLEY_CHRONOS_PASSWORD is not: basic auth needs both");
  }
  if (password && !user) {
    return Status::InvalidArgument(
        "GALLEY_CHRONOS_PASSWORD is set but GALLEY_CHRONOS_USER is not: basic auth needs both");
  }
  if (user && user->find(':') != std::string::npos) {
    return Status::InvalidArgument(
        "GALLEY_CHRONOS_USER: a basic-auth user name cannot contain ':'");
  }
  if (user) {
    c.basic_user = *user;
    c.basic_password = *password;
  }
  if (auto ca = Get(env, "GALLEY_CA_FILE")) c.ca_file = *ca;
  return c;
}

}  // namespace

Result<Endpoints> ResolveEndpoints(const model::Platform& platform, const EndpointFlags& flags,
                                   const Env& env) {
  Endpoints e;
  ASSIGN_OR_RETURN(e.marathon, ResolveMarathon(platform, flags, env));
  ASSIGN_OR_RETURN(e.consul, ResolveConsul(platform, flags, env));
  ASSIGN_OR_RETURN(e.chronos, ResolveChronos(platform, flags, env));
  return e;
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** p = environ; p && *p; ++p) {
    std::string_view entry(*p);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

}  // namespace galley::clients
