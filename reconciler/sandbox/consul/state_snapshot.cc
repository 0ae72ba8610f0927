// SPDX-License-Identifier: Apache-2.0
// State: Snapshot() and Restore() — the durable part of the store (what Consul keeps in raft:
// KV with indexes, tombstones, sessions, nodes, services, checks, the raft and table
// indexes) as one JSON object. Runtime state (check schedules, session timers, lock-delays)
// is rebuilt on restore, as a Consul leader does after a failover.
#include <algorithm>

#include "base/strings.h"
#include "sandbox/consul/state.h"

namespace galley::sandbox::consul {

namespace {

constexpr char kFormat[] = "galley-consul-emulator/1";

Status Need(const nlohmann::json& obj, const char* what) {
  if (!obj.is_object())
    return Status::InvalidArgument(std::string("snapshot: ") + what + " is not an object");
  return Status::Ok();
}

// KV keys may be any bytes; JSON strings must be UTF-8. Invalid keys go as "KeyBase64".
void PutKey(nlohmann::json* x, const std::string& key) {
  if (FindInvalidUtf8(key) == std::string::npos)
    (*x)["Key"] = key;
  else
    (*x)["KeyBase64"] = Base64Encode(key);
}

Status GetKey(const nlohmann::json& x, std::string* key) {
  std::string b64;
  RETURN_IF_ERROR(GetString(x, "KeyBase64", &b64));
  if (b64.empty()) return GetString(x, "Key", key);
  auto k = Base64Decode(b64);
  if (!k.ok()) return Status::InvalidArgument("snapshot: KeyBase64: " + k.status().message());
  *key = std::move(*k);
  return Status::Ok();
}

Result<nlohmann::json> Array(const nlohmann::json& snap, const char* name) {
  auto it = snap.find(name);
  if (it == snap.end() || it->is_null()) return nlohmann::json::array();
  if (!it->is_array())
    return Status::InvalidArgument(std::string("snapshot: ") + name + " is not an array");
  return *it;
}

}  // namespace

nlohmann::json State::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json j;
  j["format"] = kFormat;
  j["index"] = index_;
  j["node_id"] = node_id_;
  j["tables"] = {{"kvs", kvs_index_},       {"tombstones", tombstones_index_},
                 {"nodes", nodes_index_},   {"services", services_index_},
                 {"checks", checks_index_}, {"sessions", sessions_index_}};
  nlohmann::json kv = nlohmann::json::array();
  for (const auto& [k, e] : kv_) {
    nlohmann::json x = {{"Value", e.value.empty() ? nlohmann::json(nullptr)
                                                  : nlohmann::json(Base64Encode(e.value))},
                        {"Flags", e.flags},
                        {"CreateIndex", e.create_index},
                        {"ModifyIndex", e.modify_index},
                        {"LockIndex", e.lock_index}};
    PutKey(&x, e.key);
    if (!e.session.empty()) x["Session"] = e.session;
    kv.push_back(std::move(x));
  }
  j["kv"] = std::move(kv);
  nlohmann::json tombs = nlohmann::json::array();
  for (const auto& [k, idx] : tombstones_) {
    nlohmann::json x = {{"Index", idx}};
    PutKey(&x, k);
    tombs.push_back(std::move(x));
  }
  j["tombstones"] = std::move(tombs);
  nlohmann::json sessions = nlohmann::json::array();
  for (const auto& [id, s] : sessions_) {
    sessions.push_back({{"ID", s.id},
                        {"Name", s.name},
                        {"Node", s.node},
                        {"Behavior", s.behavior},
                        {"TTL", s.ttl},
                        {"LockDelay", s.lock_delay.count()},
                        {"Checks", s.checks},
                        {"NodeChecks", s.node_checks},
                        {"ServiceChecks", s.service_checks},
                        {"CreateIndex", s.create_index},
                        {"ModifyIndex", s.modify_index}});
  }
  j["sessions"] = std::move(sessions);
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& [k, n] : nodes_) {
    nodes.push_back({{"ID", n.spec.id},
                     {"Node", n.spec.name},
                     {"Address", n.spec.address},
                     {"TaggedAddresses", n.spec.tagged_addresses},
                     {"Meta", n.spec.meta},
                     {"CreateIndex", n.create_index},
                     {"ModifyIndex", n.modify_index}});
  }
  j["nodes"] = std::move(nodes);
  nlohmann::json services = nlohmann::json::array();
  for (const auto& [k, s] : services_) {
    services.push_back(
        {{"Node", s.node},
         {"Agent", s.agent},
         {"ID", s.spec.id},
         {"Service", s.spec.name},
         {"Tags", s.spec.tags},
         {"Address", s.spec.address},
         {"TaggedAddresses", s.spec.tagged_addresses},
         {"Meta", s.spec.meta},
         {"Port", s.spec.port},
         {"EnableTagOverride", s.spec.enable_tag_override},
         {"Weights", {{"Passing", s.spec.weight_passing}, {"Warning", s.spec.weight_warning}}},
         {"Kind", s.spec.kind},
         {"CreateIndex", s.create_index},
         {"ModifyIndex", s.modify_index}});
  }
  j["services"] = std::move(services);
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& [k, c] : checks_) {
    checks.push_back({{"Node", c.spec.node},
                      {"Agent", c.agent},
                      {"CheckID", c.spec.id},
                      {"Name", c.spec.name},
                      {"Status", c.spec.status},
                      {"Notes", c.spec.notes},
                      {"Output", c.spec.output},
                      {"ServiceID", c.spec.service_id},
                      {"Definition", CheckDefinitionJson(c.spec.def, true)},
                      {"CreateIndex", c.create_index},
                      {"ModifyIndex", c.modify_index}});
  }
  j["checks"] = std::move(checks);
  j["service_name_index"] = service_name_index_;
  // Other strings (names, check output) are stored as given; any invalid UTF-8 in them is
  // replaced so that the snapshot always serialises.
  return nlohmann::json::parse(Dump(j));
}

Status State::Restore(const nlohmann::json& snap) {
  if (!snap.is_object() || snap.value("format", "") != kFormat) {
    return Status::InvalidArgument("not a galley Consul emulator snapshot (format " +
                                   std::string(kFormat) + ")");
  }
  try {
    uint64_t index = 0;
    RETURN_IF_ERROR(GetUint(snap, "index", &index));
    std::string node_id;
    RETURN_IF_ERROR(GetString(snap, "node_id", &node_id));
    uint64_t t_kvs = 0, t_tombs = 0, t_nodes = 0, t_services = 0, t_checks = 0, t_sessions = 0;
    if (const nlohmann::json* t = Field(snap, "tables")) {
      RETURN_IF_ERROR(Need(*t, "tables"));
      RETURN_IF_ERROR(GetUint(*t, "kvs", &t_kvs));
      RETURN_IF_ERROR(GetUint(*t, "tombstones", &t_tombs));
      RETURN_IF_ERROR(GetUint(*t, "nodes", &t_nodes));
      RETURN_IF_ERROR(GetUint(*t, "services", &t_services));
      RETURN_IF_ERROR(GetUint(*t, "checks", &t_checks));
      RETURN_IF_ERROR(GetUint(*t, "sessions", &t_sessions));
    }

    std::map<std::string, KvEntry> kv;
    ASSIGN_OR_RETURN(nlohmann::json kv_json, Array(snap, "kv"));
    for (const auto& x : kv_json) {
      RETURN_IF_ERROR(Need(x, "kv entry"));
      KvEntry e;
      std::string b64;
      RETURN_IF_ERROR(GetKey(x, &e.key));
      RETURN_IF_ERROR(GetString(x, "Value", &b64));
      auto value = Base64Decode(b64);
      if (!value.ok())
        return Status::InvalidArgument("snapshot: key " + e.key + ": " + value.status().message());
      e.value = std::move(*value);
      RETURN_IF_ERROR(GetUint(x, "Flags", &e.flags));
      RETURN_IF_ERROR(GetUint(x, "CreateIndex", &e.create_index));
      RETURN_IF_ERROR(GetUint(x, "ModifyIndex", &e.modify_index));
      RETURN_IF_ERROR(GetUint(x, "LockIndex", &e.lock_index));
      RETURN_IF_ERROR(GetString(x, "Session", &e.session));
      index = std::max(index, e.modify_index);
      kv[e.key] = std::move(e);
    }
    std::map<std::string, uint64_t> tombs;
    ASSIGN_OR_RETURN(nlohmann::json tomb_json, Array(snap, "tombstones"));
    for (const auto& x : tomb_json) {
      RETURN_IF_ERROR(Need(x, "tombstone"));
      std::string key;
      uint64_t idx = 0;
      RETURN_IF_ERROR(GetKey(x, &key));
      RETURN_IF_ERROR(GetUint(x, "Index", &idx));
      tombs[key] = idx;
    }
    std::map<std::string, SessionRecord> sessions;
    ASSIGN_OR_RETURN(nlohmann::json sess_json, Array(snap, "sessions"));
    auto now = Clock::now();
    for (const auto& x : sess_json) {
      RETURN_IF_ERROR(Need(x, "session"));
      SessionRecord s;
      int64_t delay = 0;
      RETURN_IF_ERROR(GetString(x, "ID", &s.id));
      RETURN_IF_ERROR(GetString(x, "Name", &s.name));
      RETURN_IF_ERROR(GetString(x, "Node", &s.node));
      RETURN_IF_ERROR(GetString(x, "Behavior", &s.behavior));
      RETURN_IF_ERROR(GetString(x, "TTL", &s.ttl));
      RETURN_IF_ERROR(GetInt(x, "LockDelay", &delay));
      s.lock_delay = Duration(delay);
      RETURN_IF_ERROR(GetStringList(x, "Checks", &s.checks));
      RETURN_IF_ERROR(GetStringList(x, "NodeChecks", &s.node_checks));
      RETURN_IF_ERROR(GetStringList(x, "ServiceChecks", &s.service_checks));
      RETURN_IF_ERROR(GetUint(x, "CreateIndex", &s.create_index));
      RETURN_IF_ERROR(GetUint(x, "ModifyIndex", &s.modify_index));
      if (s.id.empty()) return Status::InvalidArgument("snapshot: session without ID");
      if (!s.ttl.empty()) {
        auto d = ParseGoDuration(s.ttl);
        if (!d.ok())
          return Status::InvalidArgument("snapshot: session " + s.id + ": " + d.status().message());
        s.ttl_duration = *d;
        if (s.ttl_duration.count() > 0) s.expires = now + s.ttl_duration * 2;
      }
      sessions[s.id] = std::move(s);
    }
    std::map<std::string, NodeRecord> nodes;
    ASSIGN_OR_RETURN(nlohmann::json node_json, Array(snap, "nodes"));
    for (const auto& x : node_json) {
      RETURN_IF_ERROR(Need(x, "node"));
      NodeRecord n;
      RETURN_IF_ERROR(GetString(x, "ID", &n.spec.id));
      RETURN_IF_ERROR(GetString(x, "Node", &n.spec.name));
      RETURN_IF_ERROR(GetString(x, "Address", &n.spec.address));
      RETURN_IF_ERROR(GetStringMap(x, "TaggedAddresses", &n.spec.tagged_addresses));
      RETURN_IF_ERROR(GetStringMap(x, "Meta", &n.spec.meta));
      RETURN_IF_ERROR(GetUint(x, "CreateIndex", &n.create_index));
      RETURN_IF_ERROR(GetUint(x, "ModifyIndex", &n.modify_index));
      if (n.spec.name.empty()) return Status::InvalidArgument("snapshot: node without a name");
      nodes[NodeKey(n.spec.name)] = std::move(n);
    }
    std::map<std::string, ServiceRecord> services;
    std::map<std::string, std::set<std::string>> by_name;
    ASSIGN_OR_RETURN(nlohmann::json svc_json, Array(snap, "services"));
    for (const auto& x : svc_json) {
      RETURN_IF_ERROR(Need(x, "service"));
      ServiceRecord s;
      RETURN_IF_ERROR(GetString(x, "Node", &s.node));
      RETURN_IF_ERROR(GetBool(x, "Agent", &s.agent));
      RETURN_IF_ERROR(GetString(x, "ID", &s.spec.id));
      RETURN_IF_ERROR(GetString(x, "Service", &s.spec.name));
      RETURN_IF_ERROR(GetStringList(x, "Tags", &s.spec.tags));
      RETURN_IF_ERROR(GetString(x, "Address", &s.spec.address));
      if (const nlohmann::json* ta = Field(x, "TaggedAddresses"); ta && ta->is_object())
        s.spec.tagged_addresses = *ta;
      RETURN_IF_ERROR(GetStringMap(x, "Meta", &s.spec.meta));
      RETURN_IF_ERROR(GetInt(x, "Port", &s.spec.port));
      RETURN_IF_ERROR(GetBool(x, "EnableTagOverride", &s.spec.enable_tag_override));
      if (const nlohmann::json* w = Field(x, "Weights")) {
        RETURN_IF_ERROR(GetInt(*w, "Passing", &s.spec.weight_passing));
        RETURN_IF_ERROR(GetInt(*w, "Warning", &s.spec.weight_warning));
      }
      RETURN_IF_ERROR(GetString(x, "Kind", &s.spec.kind));
      RETURN_IF_ERROR(GetUint(x, "CreateIndex", &s.create_index));
      RETURN_IF_ERROR(GetUint(x, "ModifyIndex", &s.modify_index));
      if (s.spec.id.empty() || !nodes.count(NodeKey(s.node))) {
        return Status::InvalidArgument("snapshot: service '" + s.spec.id +
                                       "' without a known node");
      }
      std::string key = ItemKey(s.node, s.spec.id);
      by_name[Lower(s.spec.name)].insert(key);
      services[key] = std::move(s);
    }
    std::map<std::string, CheckRecord> checks;
    ASSIGN_OR_RETURN(nlohmann::json check_json, Array(snap, "checks"));
    for (const auto& x : check_json) {
      RETURN_IF_ERROR(Need(x, "check"));
      CheckRecord c;
      RETURN_IF_ERROR(GetString(x, "Node", &c.spec.node));
      RETURN_IF_ERROR(GetBool(x, "Agent", &c.agent));
      RETURN_IF_ERROR(GetString(x, "CheckID", &c.spec.id));
      RETURN_IF_ERROR(GetString(x, "Name", &c.spec.name));
      RETURN_IF_ERROR(GetString(x, "Status", &c.spec.status));
      RETURN_IF_ERROR(GetString(x, "Notes", &c.spec.notes));
      RETURN_IF_ERROR(GetString(x, "Output", &c.spec.output));
      RETURN_IF_ERROR(GetString(x, "ServiceID", &c.spec.service_id));
      if (const nlohmann::json* d = Field(x, "Definition"))
        RETURN_IF_ERROR(ParseCheckDefinition(*d, &c.spec.def));
      RETURN_IF_ERROR(GetUint(x, "CreateIndex", &c.create_index));
      RETURN_IF_ERROR(GetUint(x, "ModifyIndex", &c.modify_index));
      if (c.spec.id.empty() || !nodes.count(NodeKey(c.spec.node))) {
        return Status::InvalidArgument("snapshot: check '" + c.spec.id + "' without a known node");
      }
      if (c.spec.status == "critical") c.critical_since = now;
      checks[ItemKey(c.spec.node, c.spec.id)] = std::move(c);
    }
    std::map<std::string, uint64_t> name_index;
    if (const nlohmann::json* ni = Field(snap, "service_name_index"); ni && ni->is_object()) {
      for (auto it = ni->begin(); it != ni->end(); ++it) {
        if (it.value().is_number_unsigned()) name_index[it.key()] = it.value().get<uint64_t>();
      }
    }

    std::lock_guard<std::mutex> lock(mu_);
    index_ = std::max({index, t_kvs, t_tombs, t_nodes, t_services, t_checks, t_sessions});
    if (!node_id.empty()) node_id_ = node_id;
    kvs_index_ = t_kvs;
    tombstones_index_ = t_tombs;
    nodes_index_ = t_nodes;
    services_index_ = t_services;
    checks_index_ = t_checks;
    sessions_index_ = t_sessions;
    kv_ = std::move(kv);
    tombstones_ = std::move(tombs);
    lock_delays_.clear();
    sessions_ = std::move(sessions);
    nodes_ = std::move(nodes);
    services_ = std::move(services);
    services_by_name_ = std::move(by_name);
    checks_ = std::move(checks);
    service_name_index_.clear();
    for (const auto& [name, keys] : services_by_name_) {
      auto it = name_index.find(name);
      service_name_index_[name] = it != name_index.end() ? it->second : index_;
    }
    for (auto& [key, c] : checks_) {
      if (c.agent) ScheduleCheckLocked(&c, now);
    }
    bool agents_present = true;  // a snapshot from a run with other (or no) --nodes
    for (const auto& n : options_.agent_nodes) {
      agents_present = agents_present && nodes_.count(NodeKey(n.name)) &&
                       checks_.count(ItemKey(n.name, "serfHealth"));
    }
    if (!nodes_.count(NodeKey(options_.node_name)) ||
        !checks_.count(ItemKey(options_.node_name, "serfHealth")) ||
        !services_.count(ItemKey(options_.node_name, "consul")) || !agents_present) {
      EnsureOwnNodeLocked(NextIndexLocked());
    }
    changes_.fetch_add(1);
    CommitLocked();
    schedule_dirty_ = true;
    schedule_.notify_all();
    return Status::Ok();
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("snapshot: ") + e.what());
  }
}

}  // namespace galley::sandbox::consul
