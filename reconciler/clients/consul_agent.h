// SPDX-License-Identifier: Apache-2.0
// ConsulAgentClient: the local Consul agent's service endpoints the registrator uses
// (consul-api.md §4): list the agent's services, register one (an upsert by ID), deregister
// one. NewConsulAgentClient returns the HTTP implementation over net::HttpClient, talking to
// one agent URL (the node's own agent, never the catalog): X-Consul-Token from the endpoint,
// errors naming the endpoint and request like ConsulClient's ("consul-agent http://a:8500:
// PUT /v1/agent/service/register: 403 Forbidden: Permission denied"), status codes mapped
// as in clients/http_support.h, transport failures keeping their code (kUnavailable,
// kTimeout), a body that is not the JSON expected kUnavailable ("...: unexpected response:
// ..."). Deregistering an ID the agent does not know is a success (Consul answers 200).
// All three calls may be repeated safely and are marked idempotent. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "clients/endpoints.h"
#include "net/http_client.h"

namespace galley::clients {

// The check a registration carries: HTTP GET of a URL or a TCP connect, every Interval.
struct AgentCheck {
  enum class Kind { kHttp, kTcp };
  Kind kind = Kind::kHttp;
  std::string target;  // "http://10.0.0.1:31001/health" or "10.0.0.1:31001"
  int interval_s = 10;
  std::optional<int> timeout_s;  // unset: Consul's default (10 s)
  bool operator==(const AgentCheck&) const = default;
};

// One service of the agent (what /v1/agent/services lists; `check` only when registering,
// the listing does not show checks).
struct AgentService {
  std::string id;
  std::string name;  // "Service" in the listing, "Name" when registering
  std::vector<std::string> tags;
  std::string address;
  int port = 0;
  std::map<std::string, std::string> meta;
  std::optional<AgentCheck> check;
  bool operator==(const AgentService&) const = default;
};

class ConsulAgentClient {
 public:
  virtual ~ConsulAgentClient() = default;
  // GET /v1/agent/services, sorted by ID. `null` Tags/Meta read as empty.
  virtual Result<std::vector<AgentService>> ListServices() = 0;
  // PUT /v1/agent/service/register with ID, Name, Tags, Address, Port, Meta and, when set,
  // Check {HTTP|TCP, Interval, Timeout}. Replaces a registration with the same ID.
  virtual Status Register(const AgentService& service) = 0;
  // PUT /v1/agent/service/deregister/<id> (its checks go with it).
  virtual Status Deregister(const std::string& id) = 0;
  // The agent URL, for log lines.
  virtual std::string url() const = 0;
};

struct ConsulAgentClientOptions {
  std::chrono::milliseconds timeout{5000};  // per request
  size_t max_response_bytes = 16u << 20;
};

// The JSON body of a register request (exposed for tests).
std::string AgentRegisterBody(const AgentService& service);

// `endpoint.url` is the agent's URL ("http://127.0.0.2:8500"); `http` must outlive the client.
std::unique_ptr<ConsulAgentClient> NewConsulAgentClient(
    const ConsulEndpoint& endpoint, net::HttpClient* http,
    const ConsulAgentClientOptions& options = {});

}  // namespace galley::clients
