// SPDX-License-Identifier: Apache-2.0
// ConsulEmulator: the Emulator behind NewConsulEmulator — Consul's HTTP layer (routing,
// 404/405, ACL tokens, ?dc, consistency and blocking-query parameters, response headers,
// plain-text errors) over State, with a CheckRunner executing the agent's checks. The
// endpoint handlers are spread over consul_emulator.cc (routing, status, agent/self),
// handlers_kv.cc (KV, txn, sessions) and handlers_catalog.cc (agent, catalog, health).
// Thread-safe: Handle is called concurrently and may block in blocking queries until the
// watched index moves, the wait elapses or Stop() is called.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "net/http_types.h"
#include "sandbox/common/emulator.h"
#include "sandbox/consul/check_runner.h"
#include "sandbox/consul/consul_emulator.h"
#include "sandbox/consul/state.h"

namespace galley::sandbox::consul {

// Parameters of a read endpoint (?index, ?wait, ?stale, ?consistent).
struct QueryOptions {
  uint64_t index = 0;
  Duration wait = std::chrono::minutes(5);
  std::string consistency = "leader";
};

// Fills *out; returns the 400 answer when a parameter is invalid.
std::optional<net::HttpResponse> ParseQueryOptions(const net::HttpRequest& r, QueryOptions* out);
net::HttpResponse TextResponse(int status, std::string body);
net::HttpResponse JsonResponse(int status, const nlohmann::json& body);
net::HttpResponse RawJsonResponse(int status, std::string body);
// 200 with an empty body and no Content-Type (what Consul sends when a handler returns nil).
net::HttpResponse EmptyOk();
// kInvalidArgument → 400, kNotFound → 404, kPermissionDenied → 403, anything else → 500.
net::HttpResponse StatusResponse(const Status& s);
// X-Consul-Index (never 0), X-Consul-KnownLeader, X-Consul-LastContact and
// X-Consul-Effective-Consistency.
void SetReadMeta(net::HttpResponse* r, uint64_t index, const QueryOptions& q);
// Parses a JSON request body; kInvalidArgument with the parser's message.
Result<nlohmann::json> ParseBody(const std::string& body);

class ConsulEmulator final : public Emulator {
 public:
  explicit ConsulEmulator(const ConsulOptions& options);
  ~ConsulEmulator() override;

  net::HttpResponse Handle(const net::HttpRequest& request) override;
  // Handles `request` as agent `agent`'s endpoint ("" = the own node's).
  net::HttpResponse HandleAs(const std::string& agent, const net::HttpRequest& request);
  // The agent of the request being handled on this thread ("" = the own node).
  const std::string& CurrentAgent() const;
  nlohmann::json Snapshot() const override { return state_.Snapshot(); }
  Status Restore(const nlohmann::json& snapshot) override { return state_.Restore(snapshot); }
  uint64_t ChangeCounter() const override { return state_.change_counter(); }
  void Stop() override;

  // Endpoint handlers; `rest` is the path after the route's prefix.
  net::HttpResponse Kv(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse Txn(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse SessionCreate(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse SessionDestroy(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse SessionRenew(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse SessionInfo(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse SessionList(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse SessionNode(const net::HttpRequest& r, const std::string& rest);

  net::HttpResponse AgentSelf(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse AgentMembers(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse AgentServices(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse AgentService(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse AgentChecks(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse AgentServiceRegister(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse AgentServiceDeregister(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse AgentCheckRegister(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse AgentCheckDeregister(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse AgentCheckPass(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse AgentCheckWarn(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse AgentCheckFail(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse AgentCheckUpdate(const net::HttpRequest& r, const std::string& rest);

  net::HttpResponse CatalogRegister(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse CatalogDeregister(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse CatalogDatacenters(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse CatalogNodes(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse CatalogServices(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse CatalogService(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse CatalogNode(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse HealthService(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse HealthChecks(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse HealthNode(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse HealthState(const net::HttpRequest& r, const std::string& rest);

  net::HttpResponse StatusLeader(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse StatusPeers(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse SandboxNodes(const net::HttpRequest& r, const std::string& rest);
  net::HttpResponse SandboxNode(const net::HttpRequest& r, const std::string& rest);

 private:
  // Blocks when the query asks to (?index > 0), until `w` moves past it or ?wait elapses.
  void Block(const QueryOptions& q, const Watch& w);
  // 403 unless the request carries the ACL master token (when one is configured).
  std::optional<net::HttpResponse> Authorize(const net::HttpRequest& r) const;
  net::HttpResponse UpdateTtl(const net::HttpRequest& r, const std::string& id,
                              const std::string& status);
  nlohmann::json Member(const std::string& agent) const;

  ConsulOptions options_;
  State state_;
  CheckRunner runner_;
};

}  // namespace galley::sandbox::consul
