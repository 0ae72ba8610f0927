// SPDX-License-Identifier: Apache-2.0
// The Consul HTTP API v1 emulator: KV (indexes, cas, flags, locks, blocking queries),
// /v1/txn, agent and catalog service registration, health with HTTP checks really executed,
// sessions with TTLs, status, agent/self and optional ACL token checks. See
// reconciler/sandbox/consul/README.md for what is emulated and where it deliberately differs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "sandbox/common/emulator.h"

namespace galley::sandbox::consul {

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
};

// The emulator starts its background threads (check execution, TTL expiry) at once;
// Stop() wakes blocked queries and joins them.
std::unique_ptr<Emulator> NewConsulEmulator(const ConsulOptions& options);

}  // namespace galley::sandbox::consul
