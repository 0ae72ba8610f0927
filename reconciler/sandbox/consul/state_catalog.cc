// SPDX-License-Identifier: Apache-2.0
// State: the catalog (nodes, services, checks), health reads and the agent's local
// services and checks, which live in the catalog under the emulator's own node.
#include <algorithm>
#include <cctype>

#include "sandbox/consul/state.h"

namespace galley::sandbox::consul {

namespace {

constexpr char kSerfCheckId[] = "serfHealth";
constexpr char kConsulVersion[] = "1.17.0";

bool ValidStatus(const std::string& s) {
  return s == "passing" || s == "warning" || s == "critical";
}

bool IsAnyAddress(const std::string& a) { return a == "0.0.0.0" || a == "::" || a == "[::]"; }

std::string DurationString(Duration d) { return d.count() == 0 ? "" : FormatGoDuration(d); }

// Keys of `m` with the given node prefix: [lower(node) + '\x01', lower(node) + '\x02').
template <typename Map, typename Fn>
void ForNode(Map& m, const std::string& node, Fn fn) {
  std::string lo = Lower(node) + '\x01';
  std::string hi = Lower(node) + '\x02';
  for (auto it = m.lower_bound(lo); it != m.end() && it->first < hi; ++it)
    fn(it->first, it->second);
}

nlohmann::json StringMapOrNull(const std::map<std::string, std::string>& m) {
  if (m.empty()) return nullptr;
  return nlohmann::json(m);
}

}  // namespace

std::string CheckDefinition::Type() const {
  if (!http.empty()) return "http";
  if (!tcp.empty()) return "tcp";
  if (!grpc.empty()) return "grpc";
  if (!args.empty()) return "script";
  if (ttl.count() > 0) return "ttl";
  return "";
}

Status ParseCheckDefinition(const nlohmann::json& obj, CheckDefinition* out) {
  CheckDefinition d;
  RETURN_IF_ERROR(GetString(obj, "HTTP", &d.http));
  RETURN_IF_ERROR(GetString(obj, "Method", &d.method));
  RETURN_IF_ERROR(GetString(obj, "Body", &d.body));
  RETURN_IF_ERROR(GetBool(obj, "TLSSkipVerify", &d.tls_skip_verify));
  RETURN_IF_ERROR(GetString(obj, "TCP", &d.tcp));
  RETURN_IF_ERROR(GetString(obj, "GRPC", &d.grpc));
  RETURN_IF_ERROR(GetStringList(obj, "Args", &d.args));
  std::string script;
  RETURN_IF_ERROR(GetString(obj, "Script", &script));
  if (d.args.empty() && !script.empty()) d.args = {"/bin/sh", "-c", script};
  if (const nlohmann::json* h = Field(obj, "Header"); h && !h->is_null()) {
    if (!h->is_object())
      return Status::InvalidArgument(
          "json: cannot unmarshal into Go struct field Header of type map[string][]string");
    for (auto it = h->begin(); it != h->end(); ++it) {
      std::vector<std::string> values;
      if (it.value().is_string()) {
        values.push_back(it.value().get<std::string>());
      } else if (it.value().is_array()) {
        for (const auto& v : it.value()) {
          if (!v.is_string())
            return Status::InvalidArgument(
                "json: cannot unmarshal into Go struct field Header of type string");
          values.push_back(v.get<std::string>());
        }
      } else {
        return Status::InvalidArgument(
            "json: cannot unmarshal into Go struct field Header of type []string");
      }
      d.header[it.key()] = std::move(values);
    }
  }
  RETURN_IF_ERROR(GetDuration(obj, "Interval", &d.interval));
  RETURN_IF_ERROR(GetDuration(obj, "Timeout", &d.timeout));
  RETURN_IF_ERROR(GetDuration(obj, "TTL", &d.ttl));
  RETURN_IF_ERROR(GetDuration(obj, "DeregisterCriticalServiceAfter", &d.deregister_critical_after));
  *out = std::move(d);
  return Status::Ok();
}

nlohmann::json CheckDefinitionJson(const CheckDefinition& d, bool complete) {
  nlohmann::json j = nlohmann::json::object();
  if (!d.http.empty()) j["HTTP"] = d.http;
  if (d.tls_skip_verify) j["TLSSkipVerify"] = true;
  if (!d.header.empty()) j["Header"] = d.header;
  if (!d.method.empty()) j["Method"] = d.method;
  if (!d.body.empty()) j["Body"] = d.body;
  if (!d.tcp.empty()) j["TCP"] = d.tcp;
  if (d.interval.count()) j["Interval"] = FormatGoDuration(d.interval);
  if (d.timeout.count()) j["Timeout"] = FormatGoDuration(d.timeout);
  if (d.deregister_critical_after.count()) {
    j["DeregisterCriticalServiceAfter"] = FormatGoDuration(d.deregister_critical_after);
  }
  if (complete) {
    if (d.ttl.count()) j["TTL"] = FormatGoDuration(d.ttl);
    if (!d.grpc.empty()) j["GRPC"] = d.grpc;
    if (!d.args.empty()) j["Args"] = d.args;
  }
  return j;
}

// ---- Rendering --------------------------------------------------------------------------

nlohmann::json State::NodeJson(const NodeRecord& n, bool with_indexes) const {
  nlohmann::json j = {{"ID", n.spec.id},
                      {"Node", n.spec.name},
                      {"Address", n.spec.address},
                      {"Datacenter", options_.datacenter},
                      {"TaggedAddresses", StringMapOrNull(n.spec.tagged_addresses)},
                      {"Meta", StringMapOrNull(n.spec.meta)}};
  if (with_indexes) {
    j["CreateIndex"] = n.create_index;
    j["ModifyIndex"] = n.modify_index;
  }
  return j;
}

nlohmann::json State::AgentServiceJson(const ServiceRecord& s, bool catalog) const {
  const ServiceSpec& sp = s.spec;
  nlohmann::json j = {{"ID", sp.id},
                      {"Service", sp.name},
                      {"Tags", sp.tags},
                      {"Meta", sp.meta},
                      {"Port", sp.port},
                      {"Address", sp.address},
                      {"Weights", {{"Passing", sp.weight_passing}, {"Warning", sp.weight_warning}}},
                      {"EnableTagOverride", sp.enable_tag_override}};
  if (sp.tags.empty()) j["Tags"] = nlohmann::json::array();
  if (sp.meta.empty()) j["Meta"] = nlohmann::json::object();
  if (sp.tagged_addresses.is_object() && !sp.tagged_addresses.empty())
    j["TaggedAddresses"] = sp.tagged_addresses;
  if (!sp.kind.empty()) j["Kind"] = sp.kind;
  if (catalog) {
    j["Proxy"] = {{"MeshGateway", nlohmann::json::object()}, {"Expose", nlohmann::json::object()}};
    j["Connect"] = nlohmann::json::object();
    j["CreateIndex"] = s.create_index;
    j["ModifyIndex"] = s.modify_index;
  } else {
    j["Datacenter"] = options_.datacenter;
  }
  return j;
}

nlohmann::json State::ServiceNodeJson(const NodeRecord& n, const ServiceRecord& s) const {
  const ServiceSpec& sp = s.spec;
  nlohmann::json j = {
      {"ID", n.spec.id},
      {"Node", n.spec.name},
      {"Address", n.spec.address},
      {"Datacenter", options_.datacenter},
      {"TaggedAddresses", StringMapOrNull(n.spec.tagged_addresses)},
      {"NodeMeta", StringMapOrNull(n.spec.meta)},
      {"ServiceKind", sp.kind},
      {"ServiceID", sp.id},
      {"ServiceName", sp.name},
      {"ServiceTags", sp.tags.empty() ? nlohmann::json::array() : nlohmann::json(sp.tags)},
      {"ServiceAddress", sp.address},
      {"ServiceWeights", {{"Passing", sp.weight_passing}, {"Warning", sp.weight_warning}}},
      {"ServiceMeta", sp.meta.empty() ? nlohmann::json::object() : nlohmann::json(sp.meta)},
      {"ServicePort", sp.port},
      {"ServiceEnableTagOverride", sp.enable_tag_override},
      {"ServiceProxy",
       {{"MeshGateway", nlohmann::json::object()}, {"Expose", nlohmann::json::object()}}},
      {"ServiceConnect", nlohmann::json::object()},
      {"CreateIndex", s.create_index},
      {"ModifyIndex", s.modify_index}};
  if (sp.tagged_addresses.is_object() && !sp.tagged_addresses.empty()) {
    j["ServiceTaggedAddresses"] = sp.tagged_addresses;
  }
  return j;
}

nlohmann::json State::CheckJson(const CheckRecord& c) const {
  const CheckSpec& sp = c.spec;
  std::string service_name;
  nlohmann::json service_tags = nlohmann::json::array();
  if (!sp.service_id.empty()) {
    if (const ServiceRecord* s = FindServiceLocked(sp.node, sp.service_id)) {
      service_name = s->spec.name;
      if (!s->spec.tags.empty()) service_tags = s->spec.tags;
    }
  }
  return {{"Node", sp.node},
          {"CheckID", sp.id},
          {"Name", sp.name},
          {"Status", sp.status},
          {"Notes", sp.notes},
          {"Output", sp.output},
          {"ServiceID", sp.service_id},
          {"ServiceName", service_name},
          {"ServiceTags", service_tags},
          {"Type", sp.def.Type()},
          {"Interval", DurationString(sp.def.interval)},
          {"Timeout", DurationString(sp.def.timeout)},
          {"ExposedPort", 0},
          {"Definition", CheckDefinitionJson(sp.def, false)},
          {"CreateIndex", c.create_index},
          {"ModifyIndex", c.modify_index}};
}

// ---- Indexes ----------------------------------------------------------------------------

const State::ServiceRecord* State::FindServiceLocked(const std::string& node,
                                                     const std::string& id) const {
  auto it = services_.find(ItemKey(node, id));
  return it == services_.end() ? nullptr : &it->second;
}

std::vector<std::string> State::ServiceKeysByNameLocked(const std::string& name) const {
  auto it = services_by_name_.find(Lower(name));
  if (it == services_by_name_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

void State::TouchServiceNameLocked(const std::string& name, uint64_t idx) {
  std::string lower = Lower(name);
  auto it = services_by_name_.find(lower);
  if (it != services_by_name_.end() && !it->second.empty()) {
    service_name_index_[lower] = idx;
  } else {
    service_name_index_.erase(lower);
  }
}

void State::TouchNodeServicesLocked(const std::string& node, uint64_t idx) {
  std::vector<std::string> names;
  ForNode(services_, node,
          [&](const std::string&, const ServiceRecord& s) { names.push_back(s.spec.name); });
  for (const auto& n : names) TouchServiceNameLocked(n, idx);
}

uint64_t State::ServiceNameIndexLocked(const std::string& name, bool with_checks) const {
  auto it = service_name_index_.find(Lower(name));
  if (it != service_name_index_.end()) return it->second;
  uint64_t idx = std::max(nodes_index_, services_index_);
  if (with_checks) idx = std::max(idx, checks_index_);
  return idx;
}

// ---- Writes -----------------------------------------------------------------------------

void State::EnsureOwnNodeLocked(uint64_t idx) {
  EnsureAgentNodeLocked(idx, options_.node_name, options_.advertise_address, node_id_, true);
  for (const auto& n : options_.agent_nodes) {
    EnsureAgentNodeLocked(idx, n.name, n.address, agent_ids_.at(NodeKey(n.name)), false);
  }
}

const std::string& State::AgentNodeName(const std::string& agent) const {
  return agent.empty() ? options_.node_name : agent;
}

// Client agents carry no `consul` service: only servers register it.
void State::EnsureAgentNodeLocked(uint64_t idx, const std::string& name, const std::string& addr,
                                  const std::string& id, bool server) {
  bool changed = false;
  if (!nodes_.count(NodeKey(name))) {
    changed = true;
    NodeRecord n;
    n.spec.id = id;
    n.spec.name = name;
    n.spec.address = addr;
    n.spec.tagged_addresses = {
        {"lan", addr}, {"lan_ipv4", addr}, {"wan", addr}, {"wan_ipv4", addr}};
    n.spec.meta = {{"consul-network-segment", ""}};
    n.create_index = n.modify_index = idx;
    nodes_[NodeKey(name)] = std::move(n);
    nodes_index_ = idx;
  }
  std::string serf_key = ItemKey(name, kSerfCheckId);
  if (!checks_.count(serf_key)) {
    changed = true;
    CheckRecord c;
    c.spec.node = name;
    c.spec.id = kSerfCheckId;
    c.spec.name = "Serf Health Status";
    c.spec.status = "passing";
    c.spec.output = "Agent alive and reachable";
    c.create_index = c.modify_index = idx;
    checks_[serf_key] = std::move(c);
    checks_index_ = idx;
  }
  std::string consul_key = ItemKey(name, "consul");
  if (server && !services_.count(consul_key)) {
    changed = true;
    ServiceRecord s;
    s.node = name;
    s.spec.id = "consul";
    s.spec.name = "consul";
    s.spec.port = 8300;
    s.spec.meta = {
        {"raft_version", "3"}, {"serf_protocol_current", "2"}, {"version", kConsulVersion}};
    s.create_index = s.modify_index = idx;
    services_[consul_key] = std::move(s);
    services_by_name_["consul"].insert(consul_key);
    services_index_ = idx;
  }
  if (changed) TouchNodeServicesLocked(name, idx);
}

Status State::SetNodeFailed(const std::string& node, bool failed) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = checks_.find(ItemKey(node, kSerfCheckId));
  if (it == checks_.end()) return Status::NotFound("Unknown node \"" + node + "\"");
  const char* status = failed ? "critical" : "passing";
  if (it->second.spec.status == status) return Status::Ok();
  // Consul's own outputs for a failed and a live member.
  SetCheckStatusLocked(NextIndexLocked(), &it->second, status,
                       failed ? "Agent not live or unreachable" : "Agent alive and reachable");
  CommitLocked();
  return Status::Ok();
}

nlohmann::json State::AgentNodes() const {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json out = nlohmann::json::array();
  auto add = [&](const std::string& name, const std::string& addr) {
    auto c = checks_.find(ItemKey(name, kSerfCheckId));
    bool failed = c != checks_.end() && c->second.spec.status == "critical";
    out.push_back({{"name", name}, {"address", addr}, {"failed", failed}});
  };
  add(options_.node_name, options_.advertise_address);
  for (const auto& n : options_.agent_nodes) add(n.name, n.address);
  return out;
}

std::optional<std::pair<std::string, std::string>> State::AgentIdentity(
    const std::string& agent) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (agent.empty() || NodeKey(agent) == NodeKey(options_.node_name)) {
    return std::make_pair(options_.advertise_address, node_id_);
  }
  for (const auto& n : options_.agent_nodes) {
    if (NodeKey(n.name) == NodeKey(agent))
      return std::make_pair(n.address, agent_ids_.at(NodeKey(n.name)));
  }
  return std::nullopt;
}

void State::ScheduleCheckLocked(CheckRecord* check, Clock::time_point now) {
  ++check->generation;
  check->running = false;
  check->next_run = now;  // Consul staggers the first run randomly within the interval
  if (check->spec.def.Type() == "ttl") check->ttl_deadline = now + check->spec.def.ttl;
  schedule_dirty_ = true;
  schedule_.notify_all();
}

void State::SetCheckStatusLocked(uint64_t idx, CheckRecord* c, const std::string& status,
                                 const std::string& output) {
  bool became_critical = status == "critical" && c->spec.status != "critical";
  c->spec.status = status;
  c->spec.output = output;
  c->modify_index = idx;
  checks_index_ = idx;
  if (c->spec.service_id.empty()) {
    TouchNodeServicesLocked(c->spec.node, idx);
  } else if (const ServiceRecord* s = FindServiceLocked(c->spec.node, c->spec.service_id)) {
    TouchServiceNameLocked(s->spec.name, idx);
  }
  if (became_critical) {
    c->critical_since = Clock::now();
    InvalidateSessionsForCheckLocked(idx, c->spec.node, c->spec.id);
  }
}

Status State::EnsureCheckLocked(uint64_t idx, CheckSpec spec, bool agent, bool preserve_state) {
  if (spec.status.empty()) spec.status = "critical";
  const ServiceRecord* svc = nullptr;
  if (!spec.service_id.empty()) {
    svc = FindServiceLocked(spec.node, spec.service_id);
    if (!svc) return Status::Internal("Missing service registration");
    spec.service_id = svc->spec.id;
  }
  std::string key = ItemKey(spec.node, spec.id);
  auto it = checks_.find(key);
  if (it != checks_.end() && preserve_state) {
    spec.status = it->second.spec.status;
    spec.output = it->second.spec.output;
  }
  if (it != checks_.end() && it->second.spec == spec && it->second.agent == agent)
    return Status::Ok();
  CheckRecord c;
  bool was_critical = false;
  if (it != checks_.end()) {
    c.create_index = it->second.create_index;
    c.generation = it->second.generation;
    c.critical_since = it->second.critical_since;
    was_critical = it->second.spec.status == "critical";
  } else {
    c.create_index = idx;
  }
  c.spec = std::move(spec);
  c.agent = agent;
  c.modify_index = idx;
  checks_index_ = idx;
  auto now = Clock::now();
  if (c.spec.status == "critical" && !was_critical) c.critical_since = now;
  if (agent) ScheduleCheckLocked(&c, now);
  CheckRecord& stored = checks_[key] = std::move(c);
  if (svc)
    TouchServiceNameLocked(svc->spec.name, idx);
  else
    TouchNodeServicesLocked(stored.spec.node, idx);
  if (stored.spec.status == "critical")
    InvalidateSessionsForCheckLocked(idx, stored.spec.node, stored.spec.id);
  return Status::Ok();
}

void State::DeleteCheckLocked(uint64_t idx, const std::string& key) {
  auto it = checks_.find(key);
  if (it == checks_.end()) return;
  CheckSpec spec = it->second.spec;
  checks_.erase(it);
  checks_index_ = idx;
  if (spec.service_id.empty()) {
    TouchNodeServicesLocked(spec.node, idx);
  } else if (const ServiceRecord* s = FindServiceLocked(spec.node, spec.service_id)) {
    TouchServiceNameLocked(s->spec.name, idx);
  }
  InvalidateSessionsForCheckLocked(idx, spec.node, spec.id);
}

void State::DeleteServiceLocked(uint64_t idx, const std::string& key) {
  auto it = services_.find(key);
  if (it == services_.end()) return;
  ServiceRecord s = it->second;
  std::vector<std::string> doomed;
  ForNode(checks_, s.node, [&](const std::string& k, const CheckRecord& c) {
    if (EqualFold(c.spec.service_id, s.spec.id)) doomed.push_back(k);
  });
  for (const auto& k : doomed) DeleteCheckLocked(idx, k);
  services_.erase(key);
  services_index_ = idx;
  std::string lower = Lower(s.spec.name);
  auto byname = services_by_name_.find(lower);
  if (byname != services_by_name_.end()) {
    byname->second.erase(key);
    if (byname->second.empty()) services_by_name_.erase(byname);
  }
  TouchServiceNameLocked(s.spec.name, idx);
}

void State::DeleteNodeLocked(uint64_t idx, const std::string& node) {
  auto it = nodes_.find(NodeKey(node));
  if (it == nodes_.end()) return;
  std::vector<std::string> svcs, checks;
  ForNode(services_, node, [&](const std::string& k, const ServiceRecord&) { svcs.push_back(k); });
  for (const auto& k : svcs) DeleteServiceLocked(idx, k);
  ForNode(checks_, node, [&](const std::string& k, const CheckRecord&) { checks.push_back(k); });
  for (const auto& k : checks) DeleteCheckLocked(idx, k);
  nodes_.erase(it);
  nodes_index_ = idx;
  InvalidateSessionsForNodeLocked(idx, node);
}

Status State::CatalogRegister(CatalogRegistration reg) {
  if (reg.node.name.empty()) return Status::Internal("Must provide node");
  if (reg.node.address.empty() && !reg.skip_node_update) {
    return Status::Internal("Must provide address if SkipNodeUpdate is not set");
  }
  if (!reg.node.id.empty()) {
    const std::string& id = reg.node.id;
    if (id.size() != 36) return Status::Internal("Bad node ID: uuid string is wrong length");
    for (size_t i = 0; i < id.size(); ++i) {
      bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      bool ok = dash ? id[i] == '-' : std::isxdigit(static_cast<unsigned char>(id[i])) != 0;
      if (!ok) return Status::Internal("Bad node ID: uuid is improperly formatted");
    }
  }
  if (reg.service) {
    ServiceSpec& s = *reg.service;
    if (s.id.empty() && !s.name.empty()) s.id = s.name;
    if (!s.id.empty() && s.name.empty())
      return Status::Internal("Must provide service name with ID");
    if (IsAnyAddress(s.address)) return Status::Internal("Invalid service address");
    if (s.id.empty()) reg.service.reset();
  }
  for (auto& c : reg.checks) {
    if (c.id.empty() && !c.name.empty()) c.id = c.name;
    if (c.node.empty()) c.node = reg.node.name;
    if (!EqualFold(c.node, reg.node.name)) {
      return Status::Internal("Node '" + c.node + "' for check '" + c.id +
                              "' doesn't match register request node '" + reg.node.name + "'");
    }
    if (c.status.empty()) c.status = "critical";
  }

  std::lock_guard<std::mutex> lock(mu_);
  std::string node_key = NodeKey(reg.node.name);
  // Validate the checks' services before changing anything.
  for (const auto& c : reg.checks) {
    if (c.service_id.empty()) continue;
    bool in_reg = reg.service && EqualFold(reg.service->id, c.service_id);
    if (!in_reg && !FindServiceLocked(reg.node.name, c.service_id)) {
      return Status::Internal("Missing service registration");
    }
  }
  if (reg.skip_node_update && !nodes_.count(node_key) && reg.node.address.empty()) {
    return Status::Internal("Must provide address if SkipNodeUpdate is not set");
  }
  uint64_t idx = NextIndexLocked();
  auto node = nodes_.find(node_key);
  if (node == nodes_.end()) {
    NodeRecord n;
    n.spec = reg.node;
    n.create_index = n.modify_index = idx;
    node = nodes_.emplace(node_key, std::move(n)).first;
    nodes_index_ = idx;
  } else if (!reg.skip_node_update) {
    NodeSpec spec = reg.node;
    spec.name = node->second.spec.name;
    if (spec.id.empty()) spec.id = node->second.spec.id;
    if (!(spec == node->second.spec)) {
      node->second.spec = std::move(spec);
      node->second.modify_index = idx;
      nodes_index_ = idx;
      TouchNodeServicesLocked(reg.node.name, idx);
    }
  }
  const std::string node_name = node->second.spec.name;
  if (reg.service) {
    std::string key = ItemKey(node_name, reg.service->id);
    auto it = services_.find(key);
    if (it == services_.end() || !(it->second.spec == *reg.service)) {
      ServiceRecord s;
      s.node = node_name;
      s.spec = *reg.service;
      s.create_index = idx;
      if (it != services_.end()) {
        s.create_index = it->second.create_index;
        s.agent = it->second.agent;
        std::string old = Lower(it->second.spec.name);
        if (old != Lower(s.spec.name)) {
          services_by_name_[old].erase(key);
          if (services_by_name_[old].empty()) services_by_name_.erase(old);
          TouchServiceNameLocked(it->second.spec.name, idx);
        }
      }
      s.modify_index = idx;
      services_by_name_[Lower(s.spec.name)].insert(key);
      std::string name = s.spec.name;
      services_[key] = std::move(s);
      services_index_ = idx;
      TouchServiceNameLocked(name, idx);
    }
  }
  for (auto& c : reg.checks) {
    c.node = node_name;
    RETURN_IF_ERROR(EnsureCheckLocked(idx, std::move(c), false, false));
  }
  CommitLocked();
  return Status::Ok();
}

Status State::CatalogDeregister(const std::string& node, const std::string& service_id,
                                const std::string& check_id) {
  if (node.empty()) return Status::Internal("Must provide node");
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t idx = NextIndexLocked();
  if (!service_id.empty()) DeleteServiceLocked(idx, ItemKey(node, service_id));
  if (!check_id.empty()) DeleteCheckLocked(idx, ItemKey(node, check_id));
  if (service_id.empty() && check_id.empty()) DeleteNodeLocked(idx, node);
  CommitLocked();
  return Status::Ok();
}

// ---- Reads ------------------------------------------------------------------------------

JsonRead State::CatalogServices() const {
  std::lock_guard<std::mutex> lock(mu_);
  JsonRead r{IndexOfLocked({Watch::kServices, ""}), nlohmann::json::object()};
  for (const auto& [lower, keys] : services_by_name_) {
    if (keys.empty()) continue;
    std::set<std::string> tags;
    std::string name;
    for (const auto& k : keys) {
      const ServiceRecord& s = services_.at(k);
      if (name.empty()) name = s.spec.name;
      tags.insert(s.spec.tags.begin(), s.spec.tags.end());
    }
    r.body[name] = nlohmann::json(std::vector<std::string>(tags.begin(), tags.end()));
  }
  return r;
}

JsonRead State::CatalogNodes() const {
  std::lock_guard<std::mutex> lock(mu_);
  JsonRead r{IndexOfLocked({Watch::kNodes, ""}), nlohmann::json::array()};
  for (const auto& [k, n] : nodes_) r.body.push_back(NodeJson(n, true));
  return r;
}

bool State::HasAllTags(const ServiceRecord& s, const std::vector<std::string>& tags) const {
  for (const auto& want : tags) {
    bool found = std::any_of(s.spec.tags.begin(), s.spec.tags.end(),
                             [&](const std::string& t) { return EqualFold(t, want); });
    if (!found) return false;
  }
  return true;
}

JsonRead State::CatalogService(const std::string& name,
                               const std::vector<std::string>& tags) const {
  std::lock_guard<std::mutex> lock(mu_);
  JsonRead r{IndexOfLocked({Watch::kCatalogService, name}), nlohmann::json::array()};
  for (const auto& key : ServiceKeysByNameLocked(name)) {
    const ServiceRecord& s = services_.at(key);
    if (!HasAllTags(s, tags)) continue;
    auto node = nodes_.find(NodeKey(s.node));
    if (node == nodes_.end()) continue;
    r.body.push_back(ServiceNodeJson(node->second, s));
  }
  return r;
}

JsonRead State::CatalogNode(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  JsonRead r{IndexOfLocked({Watch::kNode, name}), nullptr};
  auto node = nodes_.find(NodeKey(name));
  if (node == nodes_.end()) return r;
  nlohmann::json services = nlohmann::json::object();
  ForNode(services_, name, [&](const std::string&, const ServiceRecord& s) {
    services[s.spec.id] = AgentServiceJson(s, true);
  });
  r.body = {{"Node", NodeJson(node->second, true)}, {"Services", std::move(services)}};
  return r;
}

JsonRead State::HealthService(const std::string& name, const std::vector<std::string>& tags,
                              bool passing) const {
  std::lock_guard<std::mutex> lock(mu_);
  JsonRead r{IndexOfLocked({Watch::kHealthService, name}), nlohmann::json::array()};
  for (const auto& key : ServiceKeysByNameLocked(name)) {
    const ServiceRecord& s = services_.at(key);
    if (!HasAllTags(s, tags)) continue;
    auto node = nodes_.find(NodeKey(s.node));
    if (node == nodes_.end()) continue;
    nlohmann::json node_checks = nlohmann::json::array(), svc_checks = nlohmann::json::array();
    bool all_passing = true;
    ForNode(checks_, s.node, [&](const std::string&, const CheckRecord& c) {
      bool mine = c.spec.service_id.empty() || EqualFold(c.spec.service_id, s.spec.id);
      if (!mine) return;
      if (c.spec.status != "passing") all_passing = false;
      (c.spec.service_id.empty() ? node_checks : svc_checks).push_back(CheckJson(c));
    });
    if (passing && !all_passing) continue;
    for (auto& c : svc_checks) node_checks.push_back(std::move(c));
    r.body.push_back({{"Node", NodeJson(node->second, true)},
                      {"Service", AgentServiceJson(s, true)},
                      {"Checks", std::move(node_checks)}});
  }
  return r;
}

JsonRead State::HealthChecksOfService(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  JsonRead r{IndexOfLocked({Watch::kChecks, ""}), nlohmann::json::array()};
  for (const auto& key : ServiceKeysByNameLocked(name)) {
    const ServiceRecord& s = services_.at(key);
    ForNode(checks_, s.node, [&](const std::string&, const CheckRecord& c) {
      if (EqualFold(c.spec.service_id, s.spec.id)) r.body.push_back(CheckJson(c));
    });
  }
  return r;
}

JsonRead State::HealthChecksOfNode(const std::string& node) const {
  std::lock_guard<std::mutex> lock(mu_);
  JsonRead r{IndexOfLocked({Watch::kChecks, ""}), nlohmann::json::array()};
  ForNode(checks_, node,
          [&](const std::string&, const CheckRecord& c) { r.body.push_back(CheckJson(c)); });
  return r;
}

JsonRead State::HealthChecksInState(const std::string& state) const {
  std::lock_guard<std::mutex> lock(mu_);
  JsonRead r{IndexOfLocked({Watch::kChecks, ""}), nlohmann::json::array()};
  for (const auto& [k, c] : checks_) {
    if (state == "any" || c.spec.status == state) r.body.push_back(CheckJson(c));
  }
  return r;
}

TextRead State::HealthChecksInStateText(const std::string& state) const {
  std::lock_guard<std::mutex> lock(mu_);
  TextRead r{IndexOfLocked({Watch::kChecks, ""}), "["};
  bool first = true;
  for (const auto& [k, c] : checks_) {
    if (state != "any" && c.spec.status != state) continue;
    const ServiceRecord* s =
        c.spec.service_id.empty() ? nullptr : FindServiceLocked(c.spec.node, c.spec.service_id);
    static const std::string kNone;
    static const std::vector<std::string> kNoTags;
    const std::string& name = s ? s->spec.name : kNone;
    const std::vector<std::string>& tags = s ? s->spec.tags : kNoTags;
    CheckText& t = check_text_[k];
    if (t.json.empty() || !(t.spec == c.spec) || t.create_index != c.create_index ||
        t.modify_index != c.modify_index || t.service_name != name || t.service_tags != tags) {
      t = CheckText{c.spec, c.create_index, c.modify_index, name, tags, Dump(CheckJson(c))};
    }
    if (!first) r.body += ',';
    first = false;
    r.body += t.json;
  }
  r.body += ']';
  if (check_text_.size() > checks_.size() + 1024) {  // forget removed checks now and then
    std::erase_if(check_text_, [&](const auto& e) { return !checks_.count(e.first); });
  }
  return r;
}

// ---- Agent ------------------------------------------------------------------------------

Status State::AgentRegisterService(const std::string& agent, const ServiceSpec& service,
                                   std::vector<CheckSpec> checks, bool replace_existing_checks) {
  ServiceSpec spec = service;
  if (spec.name.empty()) return Status::InvalidArgument("Missing service name");
  if (spec.id.empty()) spec.id = spec.name;
  if (IsAnyAddress(spec.address)) return Status::InvalidArgument("Invalid service address");
  const std::string& node = AgentNodeName(agent);
  for (size_t i = 0; i < checks.size(); ++i) {
    CheckSpec& c = checks[i];
    if (!c.status.empty() && !ValidStatus(c.status)) {
      return Status::InvalidArgument("Status for checks must 'passing', 'warning', 'critical'");
    }
    if (c.id.empty()) {
      c.id = "service:" + spec.id;
      if (checks.size() > 1) c.id += ":" + std::to_string(i + 1);
    }
    if (c.name.empty()) c.name = "Service '" + spec.name + "' check";
    c.node = node;
    c.service_id = spec.id;
  }
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t idx = NextIndexLocked();
  EnsureOwnNodeLocked(idx);
  std::string key = ItemKey(node, spec.id);
  auto it = services_.find(key);
  if (it == services_.end() || !(it->second.spec == spec) || !it->second.agent) {
    ServiceRecord s;
    s.node = nodes_.at(NodeKey(node)).spec.name;
    s.spec = spec;
    s.agent = true;
    s.create_index = idx;
    if (it != services_.end()) {
      s.create_index = it->second.create_index;
      std::string old = Lower(it->second.spec.name);
      if (old != Lower(spec.name)) {
        services_by_name_[old].erase(key);
        if (services_by_name_[old].empty()) services_by_name_.erase(old);
        TouchServiceNameLocked(it->second.spec.name, idx);
      }
    }
    s.modify_index = idx;
    services_by_name_[Lower(spec.name)].insert(key);
    services_[key] = std::move(s);
    services_index_ = idx;
    TouchServiceNameLocked(spec.name, idx);
  }
  if (replace_existing_checks) {
    std::vector<std::string> doomed;
    ForNode(checks_, node, [&](const std::string& k, const CheckRecord& c) {
      if (!EqualFold(c.spec.service_id, spec.id)) return;
      bool kept = std::any_of(checks.begin(), checks.end(),
                              [&](const CheckSpec& n) { return EqualFold(n.id, c.spec.id); });
      if (!kept) doomed.push_back(k);
    });
    for (const auto& k : doomed) DeleteCheckLocked(idx, k);
  }
  for (auto& c : checks) {
    c.node = services_.at(key).node;
    RETURN_IF_ERROR(EnsureCheckLocked(idx, std::move(c), true, true));
  }
  CommitLocked();
  return Status::Ok();
}

Status State::AgentDeregisterService(const std::string& agent, const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string key = ItemKey(AgentNodeName(agent), id);
  auto it = services_.find(key);
  if (it == services_.end() || !it->second.agent) {
    return Status::NotFound("Unknown service ID \"" + id +
                            "\". Ensure that the service ID is passed, not the service name.");
  }
  DeleteServiceLocked(NextIndexLocked(), key);
  CommitLocked();
  return Status::Ok();
}

Status State::AgentRegisterCheck(const std::string& agent, CheckSpec check) {
  if (check.name.empty()) return Status::InvalidArgument("Missing check name");
  if (!check.status.empty() && !ValidStatus(check.status)) {
    return Status::InvalidArgument("Status for checks must 'passing', 'warning', 'critical'");
  }
  if (check.id.empty()) check.id = check.name;
  check.node = AgentNodeName(agent);
  std::lock_guard<std::mutex> lock(mu_);
  if (!check.service_id.empty()) {
    const ServiceRecord* s = FindServiceLocked(AgentNodeName(agent), check.service_id);
    if (!s || !s->agent)
      return Status::InvalidArgument("ServiceID \"" + check.service_id + "\" does not exist");
  }
  uint64_t idx = NextIndexLocked();
  EnsureOwnNodeLocked(idx);
  RETURN_IF_ERROR(EnsureCheckLocked(idx, std::move(check), true, false));
  CommitLocked();
  return Status::Ok();
}

Status State::AgentDeregisterCheck(const std::string& agent, const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string key = ItemKey(AgentNodeName(agent), id);
  auto it = checks_.find(key);
  if (it == checks_.end() || !it->second.agent) {
    return Status::NotFound("Unknown check ID \"" + id +
                            "\". Ensure that the check ID is passed, not the check name.");
  }
  DeleteCheckLocked(NextIndexLocked(), key);
  CommitLocked();
  return Status::Ok();
}

Status State::AgentUpdateTtlCheck(const std::string& agent, const std::string& id,
                                  const std::string& status, const std::string& output) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = checks_.find(ItemKey(AgentNodeName(agent), id));
  if (it == checks_.end() || !it->second.agent) {
    return Status::NotFound("Unknown check ID \"" + id +
                            "\". Ensure that the check ID is passed, not the check name.");
  }
  CheckRecord& c = it->second;
  if (c.spec.def.Type() != "ttl")
    return Status::Internal("CheckID \"" + id + "\" does not have associated TTL");
  c.ttl_deadline = Clock::now() + c.spec.def.ttl;
  schedule_dirty_ = true;
  schedule_.notify_all();
  if (c.spec.status != status) {
    SetCheckStatusLocked(NextIndexLocked(), &c, status, output);
    CommitLocked();
  } else {
    c.spec.output = output;
  }
  return Status::Ok();
}

nlohmann::json State::AgentServices(const std::string& agent) const {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json out = nlohmann::json::object();
  ForNode(services_, AgentNodeName(agent), [&](const std::string&, const ServiceRecord& s) {
    if (s.agent) out[s.spec.id] = AgentServiceJson(s, false);
  });
  return out;
}

std::optional<nlohmann::json> State::AgentService(const std::string& agent,
                                                  const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  const ServiceRecord* s = FindServiceLocked(AgentNodeName(agent), id);
  if (!s || !s->agent) return std::nullopt;
  nlohmann::json j = AgentServiceJson(*s, false);
  j["ContentHash"] = std::to_string(s->modify_index);
  return j;
}

nlohmann::json State::AgentChecks(const std::string& agent) const {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json out = nlohmann::json::object();
  ForNode(checks_, AgentNodeName(agent), [&](const std::string&, const CheckRecord& c) {
    if (c.agent) out[c.spec.id] = CheckJson(c);
  });
  return out;
}

}  // namespace galley::sandbox::consul
