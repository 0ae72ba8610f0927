// SPDX-License-Identifier: Apache-2.0
// ConsulEmulator: construction, routing (Consul 1.x's endpoint table: 404 for unknown
// paths, 405 with Allow for a wrong method), ACL token checks, ?dc, the shared response
// helpers, and the status and agent/self endpoints.
#include <string_view>

#include "sandbox/common/json_depth.h"
#include "sandbox/consul/emulator_impl.h"

namespace galley::sandbox::consul {

namespace {

constexpr char kVersion[] = "1.17.0";
constexpr auto kMaxWait = std::chrono::minutes(10);

using Handler = net::HttpResponse (ConsulEmulator::*)(const net::HttpRequest&, const std::string&);

struct Route {
  std::string_view path;
  bool prefix;               // path is a prefix; the rest is passed to the handler
  std::string_view methods;  // comma-separated, as sent in Allow
  Handler handler;
  bool acl;  // needs the token when ACLs are on
};

// GET on agent deregister and TTL updates is python-consul 0.7.1's (Consul ≥1.0 says 405).
constexpr Route kRoutes[] = {
    {"/v1/kv/", true, "GET,PUT,DELETE", &ConsulEmulator::Kv, true},
    {"/v1/txn", false, "PUT", &ConsulEmulator::Txn, true},
    {"/v1/session/create", false, "PUT", &ConsulEmulator::SessionCreate, true},
    {"/v1/session/destroy/", true, "PUT", &ConsulEmulator::SessionDestroy, true},
    {"/v1/session/renew/", true, "PUT", &ConsulEmulator::SessionRenew, true},
    {"/v1/session/info/", true, "GET", &ConsulEmulator::SessionInfo, true},
    {"/v1/session/list", false, "GET", &ConsulEmulator::SessionList, true},
    {"/v1/session/node/", true, "GET", &ConsulEmulator::SessionNode, true},
    {"/v1/agent/self", false, "GET", &ConsulEmulator::AgentSelf, true},
    {"/v1/agent/members", false, "GET", &ConsulEmulator::AgentMembers, true},
    {"/v1/agent/services", false, "GET", &ConsulEmulator::AgentServices, true},
    {"/v1/agent/checks", false, "GET", &ConsulEmulator::AgentChecks, true},
    {"/v1/agent/service/register", false, "PUT", &ConsulEmulator::AgentServiceRegister, true},
    {"/v1/agent/service/deregister/", true, "PUT,GET", &ConsulEmulator::AgentServiceDeregister,
     true},
    {"/v1/agent/service/", true, "GET", &ConsulEmulator::AgentService, true},
    {"/v1/agent/check/register", false, "PUT", &ConsulEmulator::AgentCheckRegister, true},
    {"/v1/agent/check/deregister/", true, "PUT,GET", &ConsulEmulator::AgentCheckDeregister, true},
    {"/v1/agent/check/pass/", true, "PUT,GET", &ConsulEmulator::AgentCheckPass, true},
    {"/v1/agent/check/warn/", true, "PUT,GET", &ConsulEmulator::AgentCheckWarn, true},
    {"/v1/agent/check/fail/", true, "PUT,GET", &ConsulEmulator::AgentCheckFail, true},
    {"/v1/agent/check/update/", true, "PUT", &ConsulEmulator::AgentCheckUpdate, true},
    {"/v1/catalog/register", false, "PUT", &ConsulEmulator::CatalogRegister, true},
    {"/v1/catalog/deregister", false, "PUT", &ConsulEmulator::CatalogDeregister, true},
    {"/v1/catalog/datacenters", false, "GET", &ConsulEmulator::CatalogDatacenters, false},
    {"/v1/catalog/nodes", false, "GET", &ConsulEmulator::CatalogNodes, true},
    {"/v1/catalog/services", false, "GET", &ConsulEmulator::CatalogServices, true},
    {"/v1/catalog/service/", true, "GET", &ConsulEmulator::CatalogService, true},
    {"/v1/catalog/node/", true, "GET", &ConsulEmulator::CatalogNode, true},
    {"/v1/health/service/", true, "GET", &ConsulEmulator::HealthService, true},
    {"/v1/health/checks/", true, "GET", &ConsulEmulator::HealthChecks, true},
    {"/v1/health/node/", true, "GET", &ConsulEmulator::HealthNode, true},
    {"/v1/health/state/", true, "GET", &ConsulEmulator::HealthState, true},
    {"/v1/status/leader", false, "GET", &ConsulEmulator::StatusLeader, false},
    {"/v1/status/peers", false, "GET", &ConsulEmulator::StatusPeers, false},
    // Sandbox control, not Consul: the agent nodes and their failed state.
    {"/_sandbox/nodes", false, "GET", &ConsulEmulator::SandboxNodes, false},
    {"/_sandbox/nodes/", true, "GET,PUT", &ConsulEmulator::SandboxNode, false},
};

// The agent the request in progress on this thread talks to ("" = the emulator's own
// node). Set by HandleAs for the request's whole (synchronous) handling, so the many
// handlers need no extra parameter; an agent listener's requests never share a thread
// with another listener's while one is being handled.
thread_local std::string t_agent;

bool MethodAllowed(std::string_view methods, const std::string& method) {
  size_t start = 0;
  while (start <= methods.size()) {
    size_t comma = methods.find(',', start);
    if (comma == std::string_view::npos) comma = methods.size();
    if (methods.substr(start, comma - start) == method) return true;
    start = comma + 1;
  }
  return false;
}

const Route* FindRoute(const std::string& path) {
  for (const Route& r : kRoutes) {
    if (!r.prefix && path == r.path) return &r;
  }
  const Route* best = nullptr;
  for (const Route& r : kRoutes) {
    if (r.prefix && path.compare(0, r.path.size(), r.path) == 0 &&
        (!best || r.path.size() > best->path.size())) {
      best = &r;
    }
  }
  return best;
}

}  // namespace

// ---- Shared helpers ---------------------------------------------------------------------

net::HttpResponse TextResponse(int status, std::string body) {
  return net::HttpResponse::Text(status, std::move(body));
}

net::HttpResponse JsonResponse(int status, const nlohmann::json& body) {
  return net::HttpResponse::Json(status, Dump(body));
}

net::HttpResponse RawJsonResponse(int status, std::string body) {
  return net::HttpResponse::Json(status, std::move(body));
}

net::HttpResponse EmptyOk() {
  net::HttpResponse r;
  r.status = 200;
  return r;
}

net::HttpResponse StatusResponse(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return TextResponse(400, s.message());
    case StatusCode::kNotFound:
      return TextResponse(404, s.message());
    case StatusCode::kPermissionDenied:
      return TextResponse(403, s.message());
    default:
      return TextResponse(500, s.message());
  }
}

void SetReadMeta(net::HttpResponse* r, uint64_t index, const QueryOptions& q) {
  r->headers["X-Consul-Index"] = std::to_string(index == 0 ? 1 : index);
  r->headers["X-Consul-KnownLeader"] = "true";
  r->headers["X-Consul-LastContact"] = "0";
  r->headers["X-Consul-Effective-Consistency"] = q.consistency;
}

std::optional<net::HttpResponse> ParseQueryOptions(const net::HttpRequest& r, QueryOptions* out) {
  bool stale = r.HasQuery("stale"), consistent = r.HasQuery("consistent");
  if (stale && consistent) {
    return TextResponse(400, "Cannot specify ?stale with ?consistent, conflicting semantics.");
  }
  out->consistency = stale ? "stale" : consistent ? "consistent" : "leader";
  if (auto wait = r.Query("wait")) {
    auto d = ParseGoDuration(*wait);
    if (!d.ok() || d->count() < 0) return TextResponse(400, "Invalid wait time");
    out->wait = std::min<Duration>(*d, kMaxWait);
  }
  if (auto index = r.Query("index")) {
    auto i = ParseUint64(*index);
    if (!i.ok()) return TextResponse(400, "Invalid index");
    out->index = *i;
  }
  return std::nullopt;
}

Result<nlohmann::json> ParseBody(const std::string& body) {
  // Go's encoding/json refuses documents nested deeper than 10000.
  if (sandbox::NestedDeeperThan(body, 10000)) return Status::InvalidArgument("exceeded max depth");
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(e.what());
  }
}

// ---- The emulator -----------------------------------------------------------------------

ConsulEmulator::ConsulEmulator(const ConsulOptions& options)
    : options_(options), state_(options), runner_(&state_, options.check_workers) {
  runner_.Start();
}

ConsulEmulator::~ConsulEmulator() { Stop(); }

void ConsulEmulator::Stop() { runner_.Stop(); }

void ConsulEmulator::Block(const QueryOptions& q, const Watch& w) {
  if (q.index > 0) state_.Wait(w, q.index, Clock::now() + q.wait);
}

std::optional<net::HttpResponse> ConsulEmulator::Authorize(const net::HttpRequest& r) const {
  if (options_.acl_master_token.empty()) return std::nullopt;
  // Precedence as in Consul's parseToken: ?token, X-Consul-Token, Authorization: Bearer.
  std::string token;
  if (auto t = r.Query("token")) {
    token = *t;
  } else if (std::string h = r.Header("X-Consul-Token"); !h.empty()) {
    token = h;
  } else if (std::string a = r.Header("Authorization"); a.compare(0, 7, "Bearer ") == 0) {
    token = a.substr(7);
    size_t sp = token.find(' ');
    if (sp != std::string::npos) token.resize(sp);
  }
  // python-consul puts the token of catalog (de)registrations in the body.
  if (token.empty() && (r.path == "/v1/catalog/register" || r.path == "/v1/catalog/deregister")) {
    auto body = ParseBody(r.body);
    if (body.ok()) {
      if (const nlohmann::json* wr = Field(*body, "WriteRequest")) {
        std::string t;
        if (GetString(*wr, "Token", &t).ok()) token = t;
      }
    }
  }
  if (token == options_.acl_master_token) return std::nullopt;
  return TextResponse(403, token.empty() ? "Permission denied" : "ACL not found");
}

const std::string& ConsulEmulator::CurrentAgent() const { return t_agent; }

net::HttpResponse ConsulEmulator::HandleAs(const std::string& agent, const net::HttpRequest& r) {
  if (!agent.empty() && !state_.AgentIdentity(agent)) {
    return TextResponse(500, "unknown agent node " + agent);
  }
  struct Restore {
    std::string saved;
    ~Restore() { t_agent = saved; }
  } restore{t_agent};
  t_agent = agent;
  return Handle(r);
}

net::HttpResponse ConsulEmulator::Handle(const net::HttpRequest& r) {
  const Route* route = FindRoute(r.path);
  net::HttpResponse resp;
  if (!route) {
    resp = TextResponse(404, "Invalid URL path: not a recognized HTTP API endpoint");
  } else if (r.method == "OPTIONS") {
    resp = EmptyOk();
    resp.headers["Allow"] = std::string(route->methods);
  } else if (!MethodAllowed(route->methods, r.method)) {
    resp = TextResponse(405, "method " + r.method + " not allowed");
    resp.headers["Allow"] = std::string(route->methods);
  } else if (auto denied = route->acl ? Authorize(r) : std::nullopt) {
    resp = std::move(*denied);
  } else if (auto dc = r.Query("dc"); dc && !dc->empty() && *dc != options_.datacenter) {
    resp = TextResponse(500, "No path to datacenter");
  } else {
    try {
      std::string rest = route->prefix ? r.path.substr(route->path.size()) : "";
      resp = (this->*(route->handler))(r, rest);
    } catch (const std::exception& e) {
      resp = TextResponse(500, std::string("internal error: ") + e.what());
    }
  }
  resp.headers["X-Consul-Default-ACL-Policy"] =
      options_.acl_master_token.empty() ? "allow" : "deny";
  return resp;
}

// ---- Status and agent/self -----------------------------------------------------------------

net::HttpResponse ConsulEmulator::StatusLeader(const net::HttpRequest&, const std::string&) {
  return JsonResponse(200, options_.advertise_address + ":8300");
}

net::HttpResponse ConsulEmulator::StatusPeers(const net::HttpRequest&, const std::string&) {
  return JsonResponse(200, nlohmann::json::array({options_.advertise_address + ":8300"}));
}

nlohmann::json ConsulEmulator::Member(const std::string& agent) const {
  auto [addr, id] = state_.AgentIdentity(agent).value_or(
      std::make_pair(options_.advertise_address, state_.node_id()));
  const bool server = agent.empty();
  return {{"Name", agent.empty() ? options_.node_name : agent},
          {"Addr", addr},
          {"Port", 8301},
          {"Tags",
           {{"acls", options_.acl_master_token.empty() ? "0" : "1"},
            {"build", std::string(kVersion) + ":"},
            {"dc", options_.datacenter},
            {"id", id},
            {"port", "8300"},
            {"role", server ? "consul" : "node"},
            {"vsn", "2"},
            {"vsn_max", "3"},
            {"vsn_min", "2"}}},
          {"Status", 1},
          {"ProtocolMin", 1},
          {"ProtocolMax", 5},
          {"ProtocolCur", 2},
          {"DelegateMin", 2},
          {"DelegateMax", 5},
          {"DelegateCur", 4}};
}

net::HttpResponse ConsulEmulator::AgentSelf(const net::HttpRequest&, const std::string&) {
  const std::string& agent = CurrentAgent();
  const std::string name = agent.empty() ? options_.node_name : agent;
  auto [addr, id] = state_.AgentIdentity(agent).value_or(
      std::make_pair(options_.advertise_address, state_.node_id()));
  nlohmann::json self = {{"Config",
                          {{"Datacenter", options_.datacenter},
                           {"PrimaryDatacenter", options_.datacenter},
                           {"NodeName", name},
                           {"NodeID", id},
                           {"Server", agent.empty()},
                           {"Revision", ""},
                           {"Version", kVersion}}},
                         {"DebugConfig",
                          {{"Datacenter", options_.datacenter},
                           {"NodeName", name},
                           {"AdvertiseAddrLAN", addr},
                           {"ClientAddrs", nlohmann::json::array({addr})},
                           {"HTTPPort", options_.http_port},
                           {"ACLsEnabled", !options_.acl_master_token.empty()},
                           {"SessionTTLMin", FormatGoDuration(options_.session_ttl_min)},
                           {"KVMaxValueSize", options_.kv_max_value_size}}},
                         {"Coord", nullptr},
                         {"Member", Member(agent)},
                         {"Meta", {{"consul-network-segment", ""}}},
                         {"Stats", nlohmann::json::object()}};
  return JsonResponse(200, self);
}

net::HttpResponse ConsulEmulator::AgentMembers(const net::HttpRequest&, const std::string&) {
  // Every member of the LAN pool, as any agent sees it; failed ones with Status 4.
  nlohmann::json out = nlohmann::json::array();
  for (const auto& n : state_.AgentNodes()) {
    std::string name = n["name"].get<std::string>();
    nlohmann::json m = Member(name == options_.node_name ? "" : name);
    if (n["failed"].get<bool>()) m["Status"] = 4;
    out.push_back(std::move(m));
  }
  return JsonResponse(200, out);
}

net::HttpResponse ConsulEmulator::SandboxNodes(const net::HttpRequest&, const std::string&) {
  return JsonResponse(200, state_.AgentNodes());
}

// PUT /_sandbox/nodes/<name> {"failed": true|false}: Serf declaring the member failed (or
// alive again). GET: that node's entry.
net::HttpResponse ConsulEmulator::SandboxNode(const net::HttpRequest& r, const std::string& name) {
  if (r.method == "GET") {
    for (const auto& n : state_.AgentNodes()) {
      if (n["name"] == name) return JsonResponse(200, n);
    }
    return TextResponse(404, "Unknown node \"" + name + "\"");
  }
  auto body = ParseBody(r.body);
  if (!body.ok()) return StatusResponse(body.status());
  if (!body->is_object() || !body->contains("failed") || !(*body)["failed"].is_boolean()) {
    return TextResponse(400, "expected {\"failed\": true|false}");
  }
  Status s = state_.SetNodeFailed(name, (*body)["failed"].get<bool>());
  if (!s.ok()) return StatusResponse(s);
  for (const auto& n : state_.AgentNodes()) {
    if (n["name"] == name) return JsonResponse(200, n);
  }
  return EmptyOk();
}

std::unique_ptr<Emulator> NewConsulEmulator(const ConsulOptions& options) {
  return std::make_unique<ConsulEmulator>(options);
}

std::function<net::HttpResponse(const net::HttpRequest&)> AgentEndpoint(Emulator* consul,
                                                                        std::string node) {
  auto* emulator = dynamic_cast<ConsulEmulator*>(consul);
  return [emulator, node = std::move(node)](const net::HttpRequest& r) {
    if (!emulator) return TextResponse(500, "not a Consul emulator");
    return emulator->HandleAs(node, r);
  };
}

}  // namespace galley::sandbox::consul
