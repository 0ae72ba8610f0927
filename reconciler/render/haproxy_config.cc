// SPDX-License-Identifier: Apache-2.0
#include "render/haproxy_config.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace galley::render {
namespace {

// HAProxy accepts letters, digits, '-', '_', '.' and ':' in proxy and server names.
std::string SafeName(const std::string& s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    out += ok ? c : '_';
  }
  return out.empty() ? "_" : out;
}

struct ServicePort {
  const model::Service* service;
  model::Port port;
  std::string registered;
};

// Exposed ports of every service, services by name then ports in declaration order.
std::vector<ServicePort> AllExposedPorts(const model::DesiredState& state) {
  std::vector<ServicePort> out;
  for (const auto& s : state.services) {
    for (const auto& port : s.ExposedPorts())
      out.push_back({&s, port, s.RegisteredName(port.container)});
  }
  return out;
}

void Line(std::ostringstream& o, const std::string& text) { o << "    " << text << "\n"; }

void Banner(std::ostringstream& o, const std::string& title) {
  o << "\n##\n# " << title << "\n##\n";
}

void RenderGlobal(std::ostringstream& o, const model::Platform& p, const model::HaproxyInstance& in,
                  const HaproxyRenderOptions& opt) {
  o << "global\n";
  Line(o, "log /dev/log local0");
  Line(o, "log /dev/log local1 notice");
  Line(o, "master-worker");
  Line(o, "maxconn " + std::to_string(p.haproxy_maxconn));
  Line(o, "hard-stop-after 30s");
  const std::string& socket = opt.stats_socket.empty() ? in.socket : opt.stats_socket;
  if (!socket.empty()) {
    Line(o, "stats socket " + socket + " mode 600 level admin");
    Line(o, "stats timeout 30s");
  }
  if (in.role == model::HaproxyRole::kExternal) {
    o << "\n";
    Line(o, "# Default SSL material locations");
    Line(o, "ca-base /etc/ssl/certs");
    Line(o, "crt-base /etc/ssl/private");
    Line(o, "ssl-default-bind-options no-sslv3 no-tls-tickets");
    Line(o, "ssl-default-bind-ciphers EECDH+AESGCM:EDH+AESGCM:AES256+EECDH:AES256+EDH");
    Line(o, "tune.ssl.default-dh-param 2048");
  }
}

void RenderDefaults(std::ostringstream& o) {
  o << "\ndefaults\n";
  Line(o, "mode http");
  Line(o, "log global");
  Line(o, "option dontlognull");
  Line(o, "timeout connect 5s");
  Line(o, "timeout client 50s");
  Line(o, "timeout server 50s");
  Line(o, "timeout check 5s");
  Line(o, "retries 3");
  Line(o, "option redispatch");
  Line(o, "option idle-close-on-response");
}

// "bind :PORT", or "bind ADDRESS:PORT" with a node's address ([v6] in brackets).
std::string Bind(const HaproxyRenderOptions& opt, const std::string& port) {
  if (opt.bind_address.empty()) return "bind :" + port;
  if (opt.bind_address.find(':') != std::string::npos)
    return "bind [" + opt.bind_address + "]:" + port;
  return "bind " + opt.bind_address + ":" + port;
}

void RenderInternalFrontends(std::ostringstream& o, const model::DesiredState& state,
                             const std::vector<ServicePort>& ports,
                             const HaproxyRenderOptions& opt) {
  if (ports.empty()) return;
  Banner(o, "Internal frontends: one per exposed port and environment");
  for (const auto& sp : ports) {
    bool tcp = sp.port.expose == model::Expose::kTcp;
    for (const auto& env : state.platform.environments) {
      if (!sp.service->FindEnvironment(env.name)) continue;
      o << "\nfrontend internal_" << (tcp ? "tcp" : "http") << "_in_" << env.name << ":"
        << sp.registered << "\n";
      if (tcp) {
        Line(o, "mode tcp");
        Line(o, "no option idle-close-on-response");  // an HTTP-mode option from defaults
      }
      Line(o, Bind(opt, env.port_prefix + std::to_string(sp.port.container)));
      Line(o, "use_backend " + BackendName(env.name, sp.registered));
    }
  }
}

void RenderExternalFrontend(std::ostringstream& o, const model::DesiredState& state,
                            const model::HaproxyInstance& in, bool https,
                            const HaproxyRenderOptions& opt) {
  o << "\nfrontend " << (https ? "external_https_in" : "external_http_in") << "\n";
  if (https) {
    Line(o, Bind(opt, "443") + " ssl crt \"${GALLEY_CERT_DIR}/" + in.tls_certificate + "\"");
    Line(o, "http-response set-header Strict-Transport-Security \"max-age=31536000; preload\"");
    Line(o, "http-response set-header X-Frame-Options DENY");
    Line(o, "http-response set-header X-Content-Type-Options nosniff");
  } else {
    Line(o, Bind(opt, "80"));
  }
  std::vector<std::string> acls, uses;
  for (const auto& s : state.services) {
    if (s.external_hosts.empty()) continue;
    const model::Port* http = nullptr;
    for (const auto& port : s.ports) {
      if (port.expose == model::Expose::kHttp) {
        http = &port;
        break;
      }
    }
    if (!http) continue;
    for (const auto& env : state.platform.environments) {
      if (!s.FindEnvironment(env.name)) continue;
      std::string acl = "host_" + env.name + ":" + s.name;
      for (const auto& h : s.external_hosts) {
        acls.push_back("acl " + acl + " hdr_dom(host) -i -m str " + env.host_prefix + h.name);
      }
      uses.push_back("use_backend " + BackendName(env.name, s.RegisteredName(http->container)) +
                     " if " + acl);
    }
  }
  for (const auto& a : acls) Line(o, a);
  for (const auto& u : uses) Line(o, u);
}

void RenderWellKnown(std::ostringstream& o, const model::Platform& p,
                     const HaproxyRenderOptions& opt) {
  if (p.well_known.empty()) return;
  Banner(o, "Well-known services");
  for (const auto& w : p.well_known) {
    o << "\nfrontend internal_http_in:" << w.name << "\n";
    Line(o, Bind(opt, std::to_string(w.listen)));
    if (w.timeout_client_s) Line(o, "timeout client " + std::to_string(*w.timeout_client_s) + "s");
    Line(o, "use_backend cluster:" + w.name);
    o << "\nbackend cluster:" << w.name << "\n";
    if (w.timeout_server_s) Line(o, "timeout server " + std::to_string(*w.timeout_server_s) + "s");
    if (!w.check_path.empty()) {
      Line(o, "option forwardfor");
      Line(o, "option httpchk GET " + w.check_path);
    }
    Line(o, "balance roundrobin");
    for (const auto& srv : w.servers) {
      std::string line = "server " + SafeName(srv.host + "-" + std::to_string(srv.port)) + " " +
                         srv.host + ":" + std::to_string(srv.port);
      if (!w.check_path.empty()) line += " check inter 10s";
      Line(o, line);
    }
  }
}

void RenderBackends(std::ostringstream& o, const model::DesiredState& state,
                    const std::vector<ServicePort>& ports, const model::Instances& live) {
  if (ports.empty()) return;
  Banner(o, "Service backends: one per exposed port and environment");
  for (const auto& sp : ports) {
    const model::Service& s = *sp.service;
    bool tcp = sp.port.expose == model::Expose::kTcp;
    int inter = s.health ? s.health->interval_s : 10;
    for (const auto& env : state.platform.environments) {
      if (!s.FindEnvironment(env.name)) continue;
      o << "\nbackend " << BackendName(env.name, sp.registered) << "\n";
      if (tcp) Line(o, "mode tcp");
      if (!tcp) Line(o, "option forwardfor");
      if (s.health && !s.health->path.empty()) {
        Line(o, "option httpchk GET " + s.health->path);
      } else if (tcp) {
        Line(o, "option tcp-check");
      }
      Line(o, "balance " + (s.balance.empty() ? std::string("roundrobin") : s.balance));
      for (const auto& srv : BackendServers(live, sp.registered, env.name)) {
        Line(o, "server " + srv.name + " " + srv.address + ":" + std::to_string(srv.port) +
                    " check inter " + std::to_string(inter) + "s fall 1 rise 1");
      }
    }
  }
}

}  // namespace

std::string BackendName(const std::string& env, const std::string& registered) {
  return "cluster_" + env + ":" + registered;
}

std::vector<HaproxyServer> BackendServers(const model::Instances& instances,
                                          const std::string& registered, const std::string& env) {
  std::vector<HaproxyServer> out;
  auto it = instances.find(registered);
  if (it == instances.end()) return out;
  struct Row {
    std::string node, address;
    int port;
  };
  std::vector<Row> rows;
  for (const auto& inst : it->second) {
    if (std::find(inst.tags.begin(), inst.tags.end(), env) == inst.tags.end()) continue;
    if (inst.address.empty() || inst.port <= 0 || inst.port > 65535) continue;
    // The address goes into the config verbatim: only host names and IP addresses (a stray
    // space or newline would inject directives).
    bool safe = inst.address.size() <= 253 &&
                std::all_of(inst.address.begin(), inst.address.end(), [](char c) {
                  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':';
                });
    if (!safe) continue;
    rows.push_back({inst.node, inst.address, inst.port});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.node, a.address, a.port) < std::tie(b.node, b.address, b.port);
  });
  rows.erase(std::unique(rows.begin(), rows.end(),
                         [](const Row& a, const Row& b) {
                           return a.node == b.node && a.address == b.address && a.port == b.port;
                         }),
             rows.end());
  std::set<std::string> used;
  for (const auto& r : rows) {
    std::string base = SafeName(r.node + "-" + std::to_string(r.port));
    std::string name = base;
    for (int n = 2; !used.insert(name).second; ++n) name = base + "-" + std::to_string(n);
    out.push_back({name, r.address, r.port});
  }
  return out;
}

model::HaproxyInstance InstanceForRole(const model::Platform& p, model::HaproxyRole role) {
  for (const auto& in : p.haproxy) {
    if (in.role == role) return in;
  }
  model::HaproxyInstance in;
  in.name = model::HaproxyRoleName(role);
  in.role = role;
  return in;
}

std::string RenderHaproxyConfig(const model::DesiredState& state,
                                const model::HaproxyInstance& instance,
                                const model::Instances& live, const HaproxyRenderOptions& options) {
  std::ostringstream o;
  o << "# Generated by galley for platform " << state.platform.name << ", haproxy instance "
    << instance.name << " (" << model::HaproxyRoleName(instance.role) << " role).\n"
    << "# Do not edit: galley rewrites this file. Source: the platform's desired-state "
       "repository.\n\n";
  RenderGlobal(o, state.platform, instance, options);
  RenderDefaults(o);
  auto ports = AllExposedPorts(state);
  RenderInternalFrontends(o, state, ports, options);
  if (instance.role == model::HaproxyRole::kExternal) {
    Banner(o, "External frontends: route by Host header");
    RenderExternalFrontend(o, state, instance, true, options);
    RenderExternalFrontend(o, state, instance, false, options);
  }
  RenderWellKnown(o, state.platform, options);
  RenderBackends(o, state, ports, live);
  return o.str();
}

}  // namespace galley::render
