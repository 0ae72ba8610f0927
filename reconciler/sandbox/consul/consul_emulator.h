// SPDX-License-Identifier: Apache-2.0
// The Consul HTTP API v1 emulator: KV (indexes, cas, flags, locks, blocking queries),
// /v1/txn, agent and catalog service registration, health with HTTP checks really executed,
// sessions with TTLs, status, agent/self and optional ACL token checks. See
// reconciler/sandbox/consul/README.md for what is emulated and where it deliberately differs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sandbox/common/emulator.h"

namespace galley::sandbox::consul {

// A client agent of the emulated cluster: its own node in the one catalog, with a
// serfHealth check, reached through its own HTTP listener (AgentEndpoint).
struct ConsulNode {
  std::string name;
  std::string address;
};

struct ConsulOptions {
  std::string datacenter = "dc1";
  std::string node_name = "sandbox";
  std::string advertise_address = "127.0.0.1";
  uint16_t http_port = 8500;     // reported by /v1/agent/self; set once the server is bound
  std::string acl_master_token;  // empty: ACLs disabled (every request allowed)

  // Limits Consul takes from its configuration. Tests lower the time-based ones.
  std::chrono::milliseconds session_ttl_min{10000};    // session_ttl_min (TTL range [min, 24h])
  std::chrono::milliseconds check_min_interval{1000};  // shorter check intervals are raised to this
  std::chrono::milliseconds deregister_critical_min{60000};  // DeregisterCriticalServiceAfter floor
  size_t kv_max_value_size = 512 * 1024;                     // limits.kv_max_value_size
  size_t txn_max_ops = 128;                                  // ops per /v1/txn (older Consul: 64)
  int check_workers = 4;                                     // threads executing HTTP/TCP checks
  // Client agents besides the emulator's own (server) node; names must differ from it and
  // from each other (galley-sandbox validates --nodes).
  std::vector<ConsulNode> agent_nodes;
};

// The emulator starts its background threads (check execution, TTL expiry) at once;
// Stop() wakes blocked queries and joins them.
std::unique_ptr<Emulator> NewConsulEmulator(const ConsulOptions& options);

// The handler of `node`'s agent listener: every endpoint of `consul` (a NewConsulEmulator
// result), with /v1/agent/* acting as that node's agent (its services, checks and
// agent/self). `consul` must outlive the handler. An unknown node answers 500.
std::function<net::HttpResponse(const net::HttpRequest&)> AgentEndpoint(Emulator* consul,
                                                                        std::string node);

}  // namespace galley::sandbox::consul
