// SPDX-License-Identifier: Apache-2.0
// Renders one HAProxy instance's whole configuration (DESIGN §1 and §7.4): global and the
// fixed defaults, internal frontends per exposed port and environment (with the
// environment's port prefix), the external HTTP/HTTPS frontends with host ACLs (external
// role), the well-known static services, and one backend per service, port and
// environment whose servers are the live instances passed in. Deterministic order:
// services by name, environments in platform-file order, servers by (node, address, port).
// Pure: no file, socket or clock is touched.
#pragma once

#include <string>
#include <vector>

#include "model/desired_state.h"

namespace galley::render {

// One server line of a service backend.
struct HaproxyServer {
  std::string name;  // "<node>-<hostport>", stable across membership changes
  std::string address;
  int port = 0;
};

// "cluster_<env>:<registered name>"
std::string BackendName(const std::string& env, const std::string& registered);

// The servers of a registered service in one environment: instances carrying the
// environment's tag, sorted by (node, address, port), names made HAProxy-safe and unique.
std::vector<HaproxyServer> BackendServers(const model::Instances& instances,
                                          const std::string& registered, const std::string& env);

// Per-agent options of the rendering, never part of the model: a node's bind address (so
// several HAProxy instances share one machine in the sandbox) and where this host keeps the
// stats socket (the agent's --run-dir).
struct HaproxyRenderOptions {
  std::string bind_address;  // "" = all addresses (`bind :PORT`), as `galley render` does
  std::string stats_socket;  // "" = the instance's `socket` from galley.yaml
};

// The whole configuration file for `instance`.
std::string RenderHaproxyConfig(const model::DesiredState& state,
                                const model::HaproxyInstance& instance,
                                const model::Instances& live,
                                const HaproxyRenderOptions& options = {});

// The platform's first instance with this role, or a default one (no socket) when none is
// declared.
model::HaproxyInstance InstanceForRole(const model::Platform& p, model::HaproxyRole role);

}  // namespace galley::render
