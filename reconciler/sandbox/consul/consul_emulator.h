// SPDX-License-Identifier: Apache-2.0
// The Consul HTTP API v1 emulator: KV (indexes, cas, flags, locks, blocking queries),
// /v1/txn, agent and catalog service registration, health with HTTP checks really executed,
// sessions with TTLs, status, agent/self and optional ACL token checks. See
// reconciler/sandbox/README.md for what is emulated and where it deliberately differs.
#pragma once

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
};

std::unique_ptr<Emulator> NewConsulEmulator(const ConsulOptions& options);

}  // namespace galley::sandbox::consul
