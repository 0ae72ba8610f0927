// SPDX-License-Identifier: Apache-2.0
// ConsulEmulator: /v1/agent (services and checks), /v1/catalog and /v1/health. Request
// bodies are decoded the way Consul does: keys case-insensitively, snake_case accepted,
// unknown keys ignored (python-consul sends lower-case keys and a WriteRequest object).
#include "sandbox/consul/emulator_impl.h"

namespace galley::sandbox::consul {

namespace {

net::HttpResponse DecodeFailed(const Status& s) {
  return TextResponse(400, "Request decode failed: " + s.message());
}

// Consul's CheckType.Validate().
Status ValidateCheckType(const CheckDefinition& d) {
  bool interval_check = !d.args.empty() || !d.http.empty() || !d.tcp.empty() || !d.grpc.empty();
  if (d.interval.count() > 0 && d.ttl.count() > 0)
    return Status::InvalidArgument("Interval and TTL cannot both be specified");
  if (interval_check && d.interval.count() <= 0) {
    return Status::InvalidArgument(
        "Interval must be > 0 for Script, HTTP, H2PING, TCP or UDP checks");
  }
  if (!interval_check && d.ttl.count() <= 0)
    return Status::InvalidArgument("TTL must be > 0 for TTL checks");
  return Status::Ok();
}

// A check object as the agent endpoints take it (definition fields at the top level).
Status ParseAgentCheck(const nlohmann::json& obj, CheckSpec* out) {
  if (!obj.is_object())
    return Status::InvalidArgument(
        "json: cannot unmarshal into Go value of type structs.CheckType");
  CheckSpec c;
  RETURN_IF_ERROR(GetString(obj, "CheckID", &c.id));
  if (c.id.empty()) RETURN_IF_ERROR(GetString(obj, "ID", &c.id));
  RETURN_IF_ERROR(GetString(obj, "Name", &c.name));
  RETURN_IF_ERROR(GetString(obj, "Status", &c.status));
  RETURN_IF_ERROR(GetString(obj, "Notes", &c.notes));
  RETURN_IF_ERROR(GetString(obj, "ServiceID", &c.service_id));
  RETURN_IF_ERROR(ParseCheckDefinition(obj, &c.def));
  *out = std::move(c);
  return Status::Ok();
}

Status ParseService(const nlohmann::json& obj, bool catalog, ServiceSpec* out) {
  if (!obj.is_object())
    return Status::InvalidArgument(
        "json: cannot unmarshal into Go value of type structs.NodeService");
  ServiceSpec s;
  RETURN_IF_ERROR(GetString(obj, "ID", &s.id));
  // The catalog's NodeService names the service "Service"; the agent's definition "Name".
  RETURN_IF_ERROR(GetString(obj, catalog ? "Service" : "Name", &s.name));
  if (s.name.empty()) RETURN_IF_ERROR(GetString(obj, catalog ? "Name" : "Service", &s.name));
  RETURN_IF_ERROR(GetStringList(obj, "Tags", &s.tags));
  RETURN_IF_ERROR(GetString(obj, "Address", &s.address));
  if (const nlohmann::json* ta = Field(obj, "TaggedAddresses"); ta && !ta->is_null()) {
    if (!ta->is_object())
      return Status::InvalidArgument("json: cannot unmarshal into Go struct field TaggedAddresses");
    s.tagged_addresses = *ta;
  }
  RETURN_IF_ERROR(GetStringMap(obj, "Meta", &s.meta));
  RETURN_IF_ERROR(GetInt(obj, "Port", &s.port));
  RETURN_IF_ERROR(GetBool(obj, "EnableTagOverride", &s.enable_tag_override));
  RETURN_IF_ERROR(GetString(obj, "Kind", &s.kind));
  if (const nlohmann::json* w = Field(obj, "Weights"); w && w->is_object()) {
    RETURN_IF_ERROR(GetInt(*w, "Passing", &s.weight_passing));
    RETURN_IF_ERROR(GetInt(*w, "Warning", &s.weight_warning));
  }
  *out = std::move(s);
  return Status::Ok();
}

Status ParseCatalogCheck(const nlohmann::json& obj, CheckSpec* out) {
  if (!obj.is_object())
    return Status::InvalidArgument(
        "json: cannot unmarshal into Go value of type structs.HealthCheck");
  CheckSpec c;
  RETURN_IF_ERROR(GetString(obj, "Node", &c.node));
  RETURN_IF_ERROR(GetString(obj, "CheckID", &c.id));
  RETURN_IF_ERROR(GetString(obj, "Name", &c.name));
  RETURN_IF_ERROR(GetString(obj, "Status", &c.status));
  RETURN_IF_ERROR(GetString(obj, "Notes", &c.notes));
  RETURN_IF_ERROR(GetString(obj, "Output", &c.output));
  RETURN_IF_ERROR(GetString(obj, "ServiceID", &c.service_id));
  if (const nlohmann::json* d = Field(obj, "Definition"); d && d->is_object()) {
    RETURN_IF_ERROR(ParseCheckDefinition(*d, &c.def));
  }
  *out = std::move(c);
  return Status::Ok();
}

net::HttpResponse Read(const JsonRead& read, const QueryOptions& q) {
  net::HttpResponse resp = JsonResponse(200, read.body);
  SetReadMeta(&resp, read.index, q);
  return resp;
}

}  // namespace

// ---- Agent --------------------------------------------------------------------------------

net::HttpResponse ConsulEmulator::AgentServices(const net::HttpRequest&, const std::string&) {
  return JsonResponse(200, state_.AgentServices(CurrentAgent()));
}

net::HttpResponse ConsulEmulator::AgentService(const net::HttpRequest&, const std::string& id) {
  auto s = state_.AgentService(CurrentAgent(), id);
  if (!s) return TextResponse(404, "unknown service ID: " + id);
  return JsonResponse(200, *s);
}

net::HttpResponse ConsulEmulator::AgentChecks(const net::HttpRequest&, const std::string&) {
  return JsonResponse(200, state_.AgentChecks(CurrentAgent()));
}

net::HttpResponse ConsulEmulator::AgentServiceRegister(const net::HttpRequest& r,
                                                       const std::string&) {
  auto body = ParseBody(r.body);
  if (!body.ok()) return DecodeFailed(body.status());
  if (!body->is_object())
    return DecodeFailed(
        Status::InvalidArgument("json: cannot unmarshal into structs.ServiceDefinition"));
  ServiceSpec service;
  if (Status s = ParseService(*body, false, &service); !s.ok()) return DecodeFailed(s);
  std::vector<CheckSpec> checks;
  auto add_check = [&](const nlohmann::json& obj) -> Status {
    CheckSpec c;
    RETURN_IF_ERROR(ParseAgentCheck(obj, &c));
    checks.push_back(std::move(c));
    return Status::Ok();
  };
  if (const nlohmann::json* c = Field(*body, "Check"); c && !c->is_null()) {
    if (Status s = add_check(*c); !s.ok()) return DecodeFailed(s);
    // An all-empty Check object is no check (Consul's CheckType.Empty()).
    if (checks.back() == CheckSpec{}) checks.pop_back();
  }
  if (const nlohmann::json* cs = Field(*body, "Checks"); cs && !cs->is_null()) {
    if (!cs->is_array())
      return DecodeFailed(
          Status::InvalidArgument("json: cannot unmarshal into Go struct field Checks"));
    for (const auto& c : *cs) {
      if (Status s = add_check(c); !s.ok()) return DecodeFailed(s);
    }
  }
  if (service.name.empty()) return TextResponse(400, "Missing service name");
  for (auto& c : checks) {
    if (Status s = ValidateCheckType(c.def); !s.ok())
      return TextResponse(400, "Invalid check: " + s.message());
    if (!c.def.args.empty()) {
      return TextResponse(
          500,
          "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or "
          "'enable_local_script_checks' to true");
    }
  }
  Status s = state_.AgentRegisterService(CurrentAgent(), service, std::move(checks),
                                         r.HasQuery("replace-existing-checks"));
  if (!s.ok()) return StatusResponse(s);
  return EmptyOk();
}

net::HttpResponse ConsulEmulator::AgentServiceDeregister(const net::HttpRequest&,
                                                         const std::string& id) {
  if (id.empty()) return TextResponse(400, "Missing service ID");
  Status s = state_.AgentDeregisterService(CurrentAgent(), id);
  return s.ok() ? EmptyOk() : StatusResponse(s);
}

net::HttpResponse ConsulEmulator::AgentCheckRegister(const net::HttpRequest& r,
                                                     const std::string&) {
  auto body = ParseBody(r.body);
  if (!body.ok()) return DecodeFailed(body.status());
  CheckSpec c;
  if (Status s = ParseAgentCheck(*body, &c); !s.ok()) return DecodeFailed(s);
  if (c.name.empty()) return TextResponse(400, "Missing check name");
  if (Status s = ValidateCheckType(c.def); !s.ok())
    return TextResponse(400, "Invalid check: " + s.message());
  if (!c.def.args.empty()) {
    return TextResponse(
        500,
        "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or "
        "'enable_local_script_checks' to true");
  }
  Status s = state_.AgentRegisterCheck(CurrentAgent(), std::move(c));
  return s.ok() ? EmptyOk() : StatusResponse(s);
}

net::HttpResponse ConsulEmulator::AgentCheckDeregister(const net::HttpRequest&,
                                                       const std::string& id) {
  Status s = state_.AgentDeregisterCheck(CurrentAgent(), id);
  return s.ok() ? EmptyOk() : StatusResponse(s);
}

net::HttpResponse ConsulEmulator::UpdateTtl(const net::HttpRequest& r, const std::string& id,
                                            const std::string& status) {
  Status s = state_.AgentUpdateTtlCheck(CurrentAgent(), id, status, r.Query("note").value_or(""));
  return s.ok() ? EmptyOk() : StatusResponse(s);
}

net::HttpResponse ConsulEmulator::AgentCheckPass(const net::HttpRequest& r, const std::string& id) {
  return UpdateTtl(r, id, "passing");
}

net::HttpResponse ConsulEmulator::AgentCheckWarn(const net::HttpRequest& r, const std::string& id) {
  return UpdateTtl(r, id, "warning");
}

net::HttpResponse ConsulEmulator::AgentCheckFail(const net::HttpRequest& r, const std::string& id) {
  return UpdateTtl(r, id, "critical");
}

net::HttpResponse ConsulEmulator::AgentCheckUpdate(const net::HttpRequest& r,
                                                   const std::string& id) {
  auto body = ParseBody(r.body);
  if (!body.ok()) return DecodeFailed(body.status());
  std::string status, output;
  Status s = GetString(*body, "Status", &status);
  if (s.ok()) s = GetString(*body, "Output", &output);
  if (!s.ok()) return DecodeFailed(s);
  if (status != "passing" && status != "warning" && status != "critical") {
    return TextResponse(400, "Invalid check status: '" + status + "'");
  }
  s = state_.AgentUpdateTtlCheck(CurrentAgent(), id, status, output);
  return s.ok() ? EmptyOk() : StatusResponse(s);
}

// ---- Catalog ------------------------------------------------------------------------------

net::HttpResponse ConsulEmulator::CatalogRegister(const net::HttpRequest& r, const std::string&) {
  auto body = ParseBody(r.body);
  if (!body.ok()) return DecodeFailed(body.status());
  if (!body->is_object())
    return DecodeFailed(
        Status::InvalidArgument("json: cannot unmarshal into structs.RegisterRequest"));
  CatalogRegistration reg;
  std::string dc;
  Status s = GetString(*body, "Node", &reg.node.name);
  if (s.ok()) s = GetString(*body, "Address", &reg.node.address);
  if (s.ok()) s = GetString(*body, "ID", &reg.node.id);
  if (s.ok()) s = GetString(*body, "Datacenter", &dc);
  if (s.ok()) s = GetStringMap(*body, "TaggedAddresses", &reg.node.tagged_addresses);
  if (s.ok()) s = GetStringMap(*body, "NodeMeta", &reg.node.meta);
  if (s.ok()) s = GetBool(*body, "SkipNodeUpdate", &reg.skip_node_update);
  if (s.ok()) {
    if (const nlohmann::json* svc = Field(*body, "Service"); svc && !svc->is_null()) {
      ServiceSpec spec;
      s = ParseService(*svc, true, &spec);
      if (s.ok()) reg.service = std::move(spec);
    }
  }
  if (s.ok()) {
    if (const nlohmann::json* cs = Field(*body, "Checks"); cs && cs->is_array()) {
      for (const auto& c : *cs) {
        CheckSpec spec;
        s = ParseCatalogCheck(c, &spec);
        if (!s.ok()) break;
        reg.checks.push_back(std::move(spec));
      }
    }
  }
  if (s.ok()) {
    if (const nlohmann::json* c = Field(*body, "Check"); c && !c->is_null()) {
      CheckSpec spec;
      s = ParseCatalogCheck(*c, &spec);
      if (s.ok()) reg.checks.push_back(std::move(spec));
    }
  }
  if (!s.ok()) return DecodeFailed(s);
  if (!dc.empty() && dc != options_.datacenter) return TextResponse(500, "No path to datacenter");
  s = state_.CatalogRegister(std::move(reg));
  if (!s.ok()) return StatusResponse(s);
  return RawJsonResponse(200, "true");
}

net::HttpResponse ConsulEmulator::CatalogDeregister(const net::HttpRequest& r, const std::string&) {
  auto body = ParseBody(r.body);
  if (!body.ok()) return DecodeFailed(body.status());
  std::string node, service_id, check_id, dc;
  Status s = GetString(*body, "Node", &node);
  if (s.ok()) s = GetString(*body, "ServiceID", &service_id);
  if (s.ok()) s = GetString(*body, "CheckID", &check_id);
  if (s.ok()) s = GetString(*body, "Datacenter", &dc);
  if (!s.ok()) return DecodeFailed(s);
  if (!dc.empty() && dc != options_.datacenter) return TextResponse(500, "No path to datacenter");
  s = state_.CatalogDeregister(node, service_id, check_id);
  if (!s.ok()) return StatusResponse(s);
  return RawJsonResponse(200, "true");
}

net::HttpResponse ConsulEmulator::CatalogDatacenters(const net::HttpRequest&, const std::string&) {
  return JsonResponse(200, nlohmann::json::array({options_.datacenter}));
}

net::HttpResponse ConsulEmulator::CatalogNodes(const net::HttpRequest& r, const std::string&) {
  QueryOptions q;
  if (auto err = ParseQueryOptions(r, &q)) return *err;
  Block(q, {Watch::kNodes, ""});
  return Read(state_.CatalogNodes(), q);
}

net::HttpResponse ConsulEmulator::CatalogServices(const net::HttpRequest& r, const std::string&) {
  QueryOptions q;
  if (auto err = ParseQueryOptions(r, &q)) return *err;
  Block(q, {Watch::kServices, ""});
  return Read(state_.CatalogServices(), q);
}

net::HttpResponse ConsulEmulator::CatalogService(const net::HttpRequest& r,
                                                 const std::string& name) {
  if (name.empty()) return TextResponse(400, "Missing service name");
  QueryOptions q;
  if (auto err = ParseQueryOptions(r, &q)) return *err;
  Block(q, {Watch::kCatalogService, name});
  return Read(state_.CatalogService(name, r.QueryAll("tag")), q);
}

net::HttpResponse ConsulEmulator::CatalogNode(const net::HttpRequest& r, const std::string& node) {
  if (node.empty()) return TextResponse(400, "Missing node name");
  QueryOptions q;
  if (auto err = ParseQueryOptions(r, &q)) return *err;
  Block(q, {Watch::kNode, node});
  return Read(state_.CatalogNode(node), q);
}

// ---- Health -------------------------------------------------------------------------------

net::HttpResponse ConsulEmulator::HealthService(const net::HttpRequest& r,
                                                const std::string& name) {
  if (name.empty()) return TextResponse(400, "Missing service name");
  QueryOptions q;
  if (auto err = ParseQueryOptions(r, &q)) return *err;
  bool passing = false;
  if (auto p = r.Query("passing")) {
    if (p->empty()) {
      passing = true;
    } else {
      auto b = ParseGoBool(*p);
      if (!b.ok()) return TextResponse(400, "Invalid value for ?passing");
      passing = *b;
    }
  }
  Block(q, {Watch::kHealthService, name});
  return Read(state_.HealthService(name, r.QueryAll("tag"), passing), q);
}

net::HttpResponse ConsulEmulator::HealthChecks(const net::HttpRequest& r, const std::string& name) {
  if (name.empty()) return TextResponse(400, "Missing service name");
  QueryOptions q;
  if (auto err = ParseQueryOptions(r, &q)) return *err;
  Block(q, {Watch::kChecks, ""});
  return Read(state_.HealthChecksOfService(name), q);
}

net::HttpResponse ConsulEmulator::HealthNode(const net::HttpRequest& r, const std::string& node) {
  if (node.empty()) return TextResponse(400, "Missing node name");
  QueryOptions q;
  if (auto err = ParseQueryOptions(r, &q)) return *err;
  Block(q, {Watch::kChecks, ""});
  return Read(state_.HealthChecksOfNode(node), q);
}

net::HttpResponse ConsulEmulator::HealthState(const net::HttpRequest& r, const std::string& state) {
  if (state.empty()) return TextResponse(400, "Missing check state");
  QueryOptions q;
  if (auto err = ParseQueryOptions(r, &q)) return *err;
  Block(q, {Watch::kChecks, ""});
  TextRead read = state_.HealthChecksInStateText(state);
  net::HttpResponse resp = RawJsonResponse(200, std::move(read.body));
  SetReadMeta(&resp, read.index, q);
  return resp;
}

}  // namespace galley::sandbox::consul
