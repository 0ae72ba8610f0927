// SPDX-License-Identifier: Apache-2.0
// Endpoints: where galley's Marathon and Consul are and how to authenticate, resolved from
// (highest first) command-line flags, galley's environment variables, Consul's own
// environment variables, and galley.yaml (DESIGN §7.7):
//   GALLEY_MARATHON_URL (comma-separated for failover), GALLEY_MARATHON_USER +
//   GALLEY_MARATHON_PASSWORD (basic auth) or GALLEY_MARATHON_TOKEN (DC/OS
//   "Authorization: token=..."), GALLEY_CONSUL_URL, CONSUL_HTTP_ADDR (host:port or URL),
//   CONSUL_HTTP_TOKEN, CONSUL_CACERT, GALLEY_CA_FILE.
// Pure: the environment is passed in as a map, so tests need not touch the process's.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/desired_state.h"

namespace galley::clients {

struct MarathonEndpoint {
  std::vector<std::string> urls;  // tried in order; the first that answers wins
  std::string basic_user, basic_password;
  std::string token;  // DC/OS ACS token: "Authorization: token=<token>"
  std::string ca_file;
};

struct ConsulEndpoint {
  std::string url;
  std::string token;  // X-Consul-Token
  std::string ca_file;
};

struct Endpoints {
  MarathonEndpoint marathon;
  ConsulEndpoint consul;
};

struct EndpointFlags {
  std::vector<std::string> marathon_urls;  // --marathon (repeatable or comma-separated)
  std::string consul_url;                  // --consul
};

// Fails with kInvalidArgument naming the source of a malformed URL.
Result<Endpoints> ResolveEndpoints(const model::Platform& platform, const EndpointFlags& flags,
                                   const std::map<std::string, std::string>& env);

// The process environment as a map, for ResolveEndpoints.
std::map<std::string, std::string> ProcessEnvironment();

}  // namespace galley::clients
