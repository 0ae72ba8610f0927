// SPDX-License-Identifier: Apache-2.0
// State: everything the Consul emulator stores, with Consul's state-store semantics — one
// raft index bumped by every write, per-table indexes (kvs, tombstones, nodes, services,
// checks, sessions) and per-service-name indexes for blocking queries, KV with cas / locks /
// lock-delay / tombstones, atomic KV transactions, sessions (TTL, invalidation releasing or
// deleting held keys), and the catalog (nodes, services, checks) that the agent endpoints
// write into under the emulator's own node. Responses for catalog, health and session
// reads are rendered here as JSON because the records are internal.
//
// Thread-safe: one mutex guards everything; every public method takes it. Wait() blocks
// on a condition variable that every commit (and Stop) notifies, so blocking queries never
// spin. The check runner drives time through Tick() and reports check results through
// ApplyCheckResult().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "sandbox/consul/codec.h"
#include "sandbox/consul/consul_emulator.h"

namespace galley::sandbox::consul {

using Clock = std::chrono::steady_clock;

// ---- KV ------------------------------------------------------------------------------

struct KvEntry {
  std::string key;
  std::string value;  // empty is rendered as JSON null, as Consul does for a nil value
  uint64_t flags = 0;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  uint64_t lock_index = 0;
  std::string session;  // lock holder; omitted from JSON when empty
};

// Appends Consul's DirEntry JSON ({"LockIndex",..,"ModifyIndex"}); `with_value` false
// renders "Value": null (txn results of write verbs).
void AppendKvJson(std::string* out, const KvEntry& e, bool with_value = true);

enum class KvWrite { kSet, kCas, kLock, kUnlock };

struct TxnKvOp {
  std::string verb;
  std::string key;
  std::string value;
  std::string session;
  uint64_t flags = 0;
  uint64_t index = 0;
};

// set, cas, lock, unlock, delete, delete-cas, delete-tree.
bool IsTxnWriteVerb(const std::string& verb);

struct TxnError {
  size_t op_index = 0;
  std::string what;
};

struct TxnOutcome {
  std::vector<KvEntry> results;  // one per op that yields an entry; values blanked for writes
  std::vector<TxnError> errors;  // non-empty: nothing was applied
};

// ---- Catalog ---------------------------------------------------------------------------

struct CheckDefinition {
  std::string http;
  std::string method;
  std::string body;
  std::map<std::string, std::vector<std::string>> header;
  bool tls_skip_verify = false;
  std::string tcp;
  std::string grpc;
  std::vector<std::string> args;
  Duration interval{0};
  Duration timeout{0};
  Duration ttl{0};
  Duration deregister_critical_after{0};

  // "http", "tcp", "ttl", "grpc", "script" or "" (catalog checks without a definition).
  std::string Type() const;
  bool operator==(const CheckDefinition&) const = default;
};

// Reads the definition fields (HTTP, Method, Header, Body, TLSSkipVerify, TCP, GRPC, Args,
// Script, TTL, Interval, Timeout, DeregisterCriticalServiceAfter) of a check object,
// case-insensitively; Go-decoder-like errors.
Status ParseCheckDefinition(const nlohmann::json& obj, CheckDefinition* out);
// Consul's HealthCheckDefinition JSON (durations as strings, empty fields omitted);
// `complete` adds the fields the snapshot needs (TTL, GRPC, Args).
nlohmann::json CheckDefinitionJson(const CheckDefinition& def, bool complete);

struct CheckSpec {
  std::string node;
  std::string id;
  std::string name;
  std::string status;  // "" = critical
  std::string notes;
  std::string output;
  std::string service_id;
  CheckDefinition def;
  bool operator==(const CheckSpec&) const = default;
};

struct ServiceSpec {
  std::string id;
  std::string name;
  std::vector<std::string> tags;
  std::string address;
  nlohmann::json tagged_addresses;  // null or {"lan": {"address":..,"port":..}, ..}
  std::map<std::string, std::string> meta;
  int64_t port = 0;
  bool enable_tag_override = false;
  int64_t weight_passing = 1;
  int64_t weight_warning = 1;
  std::string kind;
  bool operator==(const ServiceSpec&) const = default;
};

struct NodeSpec {
  std::string id;
  std::string name;
  std::string address;
  std::map<std::string, std::string> tagged_addresses;
  std::map<std::string, std::string> meta;
  bool operator==(const NodeSpec&) const = default;
};

struct CatalogRegistration {
  NodeSpec node;
  bool skip_node_update = false;
  std::optional<ServiceSpec> service;
  std::vector<CheckSpec> checks;
};

// ---- Sessions --------------------------------------------------------------------------

struct SessionSpec {
  std::string name;
  std::string node;
  std::string behavior;  // "" = release
  std::string ttl;       // Go duration string; "" = none
  Duration lock_delay = std::chrono::seconds(15);
  std::vector<std::string> checks;       // deprecated Checks (after Consul's fix-up)
  std::vector<std::string> node_checks;  // NodeChecks
  std::vector<std::string> service_checks;
};

// A read answered with its X-Consul-Index.
struct JsonRead {
  uint64_t index = 1;
  nlohmann::json body;
};

// A read whose body is already JSON text.
struct TextRead {
  uint64_t index = 1;
  std::string body;
};

// What a blocking query watches (its X-Consul-Index is computed from it).
struct Watch {
  enum Kind {
    kKvKey,           // arg: key
    kKvPrefix,        // arg: prefix (recurse and keys)
    kNodes,           // catalog/nodes
    kServices,        // catalog/services
    kCatalogService,  // arg: service name
    kHealthService,   // arg: service name
    kNode,            // arg: node name (catalog/node)
    kChecks,          // health/checks, health/node, health/state
    kSessions,        // session info/list/node
  };
  Kind kind = kKvKey;
  std::string arg;
};

// A check the runner must execute now (copied out so it runs without the lock).
struct CheckJob {
  std::string key;
  uint64_t generation = 0;
  CheckDefinition def;
};

class State {
 public:
  explicit State(const ConsulOptions& options);

  const ConsulOptions& options() const { return options_; }
  std::string node_id() const;

  // ---- Blocking and lifecycle
  // Returns once the index of `w` exceeds min_index, at `deadline`, or on Stop().
  void Wait(const Watch& w, uint64_t min_index, Clock::time_point deadline);
  void Stop();
  bool stopping() const;
  uint64_t change_counter() const { return changes_.load(); }

  // ---- KV
  struct KvRead {
    uint64_t index = 1;
    std::vector<KvEntry> entries;
  };
  KvRead KvGet(const std::string& key) const;
  KvRead KvList(const std::string& prefix) const;
  struct KeysRead {
    uint64_t index = 1;
    std::vector<std::string> keys;
  };
  KeysRead KvKeys(const std::string& prefix, const std::string& separator) const;
  // `entry` carries key, value, flags, session (lock/unlock) and, for kCas, the expected
  // ModifyIndex in modify_index. Errors (500 in Consul): invalid or missing session.
  Result<bool> KvPut(KvWrite op, KvEntry entry);
  // cas: delete only when ModifyIndex matches (a missing key counts as done).
  bool KvDelete(const std::string& key, bool recurse, std::optional<uint64_t> cas);
  // Runs every op against the store in order, all or nothing (one raft index when it
  // writes); every failing op is reported.
  TxnOutcome Txn(const std::vector<TxnKvOp>& ops);

  // ---- Sessions (errors are Consul's 500 texts)
  Result<std::string> SessionCreate(const SessionSpec& spec);
  void SessionDestroy(const std::string& id);
  // The one-element session array; nullopt when unknown.
  std::optional<nlohmann::json> SessionRenew(const std::string& id);
  JsonRead SessionInfo(const std::string& id) const;
  JsonRead SessionList() const;
  JsonRead SessionsOfNode(const std::string& node) const;

  // ---- Catalog (errors are Consul's 500 texts)
  Status CatalogRegister(CatalogRegistration reg);
  Status CatalogDeregister(const std::string& node, const std::string& service_id,
                           const std::string& check_id);
  JsonRead CatalogServices() const;
  JsonRead CatalogNodes() const;
  JsonRead CatalogService(const std::string& name, const std::vector<std::string>& tags) const;
  JsonRead CatalogNode(const std::string& node) const;
  JsonRead HealthService(const std::string& name, const std::vector<std::string>& tags,
                         bool passing) const;
  JsonRead HealthChecksOfService(const std::string& name) const;
  JsonRead HealthChecksOfNode(const std::string& node) const;
  JsonRead HealthChecksInState(const std::string& state) const;
  // The same listing as JSON text (byte for byte Dump(HealthChecksInState(state).body)), built
  // from each check's cached text: /v1/health/state/any at ~14,000 checks is megabytes, and
  // every change of any check answers every blocking reader of it with the whole listing.
  TextRead HealthChecksInStateText(const std::string& state) const;

  // ---- Nodes. Marks an agent's node failed (its serfHealth critical, as when Serf
  // declares a member failed: its services then fail ?passing, sessions tied to serfHealth
  // are invalidated) or alive again. kNotFound for a node without serfHealth.
  Status SetNodeFailed(const std::string& node, bool failed);
  // Every agent node (own first): name, address, failed.
  nlohmann::json AgentNodes() const;
  // The address and node ID of agent `agent`; nullopt when no such agent exists.
  std::optional<std::pair<std::string, std::string>> AgentIdentity(const std::string& agent) const;

  // ---- Agent (local services and checks on agent `agent`'s node; "" is the emulator's own
  // node). kInvalidArgument →
  // 400, kNotFound → 404, others → 500.
  Status AgentRegisterService(const std::string& agent, const ServiceSpec& service,
                              std::vector<CheckSpec> checks, bool replace_existing_checks);
  Status AgentDeregisterService(const std::string& agent, const std::string& id);
  Status AgentRegisterCheck(const std::string& agent, CheckSpec check);
  Status AgentDeregisterCheck(const std::string& agent, const std::string& id);
  Status AgentUpdateTtlCheck(const std::string& agent, const std::string& id,
                             const std::string& status, const std::string& output);
  nlohmann::json AgentServices(const std::string& agent) const;
  std::optional<nlohmann::json> AgentService(const std::string& agent, const std::string& id) const;
  nlohmann::json AgentChecks(const std::string& agent) const;

  // ---- Time-driven work, called by the check runner
  // Expires TTL checks and sessions, reaps services critical for too long, restores the
  // emulator's own node, and hands out the checks due to run (marked running). *next is
  // when to call again at the latest.
  std::vector<CheckJob> Tick(Clock::time_point now, Clock::time_point* next);
  void ApplyCheckResult(const std::string& key, uint64_t generation, const std::string& status,
                        const std::string& output);
  // Sleeps until `until`, a schedule change (registration) or Stop().
  void WaitForSchedule(Clock::time_point until);

  // ---- Persistence
  nlohmann::json Snapshot() const;
  Status Restore(const nlohmann::json& snapshot);

 private:
  struct NodeRecord {
    NodeSpec spec;
    uint64_t create_index = 0;
    uint64_t modify_index = 0;
  };
  struct ServiceRecord {
    std::string node;  // node name as stored
    ServiceSpec spec;
    bool agent = false;
    uint64_t create_index = 0;
    uint64_t modify_index = 0;
  };
  struct CheckRecord {
    CheckSpec spec;  // spec.node is the node name as stored
    bool agent = false;
    uint64_t create_index = 0;
    uint64_t modify_index = 0;
    // Runtime only.
    uint64_t generation = 0;
    bool running = false;
    Clock::time_point next_run{};
    Clock::time_point ttl_deadline{};
    Clock::time_point critical_since{};
  };
  struct SessionRecord {
    std::string id;
    std::string name;
    std::string node;
    std::string behavior;
    std::string ttl;
    Duration lock_delay{0};
    std::vector<std::string> checks;
    std::vector<std::string> node_checks;
    std::vector<std::string> service_checks;
    uint64_t create_index = 0;
    uint64_t modify_index = 0;
    Duration ttl_duration{0};
    Clock::time_point expires{};
  };

  // Every write: takes the next raft index. Commit() notifies waiters.
  uint64_t NextIndexLocked();
  void CommitLocked();

  // KV internals (REQUIRES mu_).
  uint64_t KvTableIndexLocked() const;
  uint64_t KvKeyIndexLocked(const std::string& key) const;
  uint64_t KvPrefixIndexLocked(const std::string& prefix) const;
  bool KvSetLocked(uint64_t idx, KvEntry* entry, bool update_session);
  void KvDeleteLocked(uint64_t idx, const std::string& key);
  bool KvDeleteTreeLocked(uint64_t idx, const std::string& prefix);
  bool LockDelayedLocked(const std::string& key) const;
  Status TxnOpLocked(uint64_t idx, const TxnKvOp& op, std::vector<KvEntry>* results);

  // Sessions internals.
  void InvalidateSessionLocked(uint64_t idx, const std::string& id);
  void InvalidateSessionsForCheckLocked(uint64_t idx, const std::string& node,
                                        const std::string& check_id);
  void InvalidateSessionsForNodeLocked(uint64_t idx, const std::string& node);
  nlohmann::json SessionJson(const SessionRecord& s) const;

  // Catalog internals.
  static std::string NodeKey(const std::string& node) { return Lower(node); }
  static std::string ItemKey(const std::string& node, const std::string& id) {
    return Lower(node) + '\x01' + Lower(id);
  }
  // Creates the nodes of every agent (own and agent_nodes) when missing.
  void EnsureOwnNodeLocked(uint64_t idx);
  void EnsureAgentNodeLocked(uint64_t idx, const std::string& name, const std::string& addr,
                             const std::string& id, bool server);
  // The node name agent `agent` stands for ("" → the own node).
  const std::string& AgentNodeName(const std::string& agent) const;
  Status EnsureCheckLocked(uint64_t idx, CheckSpec spec, bool agent, bool preserve_state);
  void SetCheckStatusLocked(uint64_t idx, CheckRecord* check, const std::string& status,
                            const std::string& output);
  void DeleteServiceLocked(uint64_t idx, const std::string& key);
  void DeleteCheckLocked(uint64_t idx, const std::string& key);
  void DeleteNodeLocked(uint64_t idx, const std::string& node_key);
  void TouchServiceNameLocked(const std::string& name, uint64_t idx);
  void TouchNodeServicesLocked(const std::string& node_key, uint64_t idx);
  void ScheduleCheckLocked(CheckRecord* check, Clock::time_point now);
  uint64_t ServiceNameIndexLocked(const std::string& name, bool with_checks) const;
  uint64_t IndexOfLocked(const Watch& w) const;
  const ServiceRecord* FindServiceLocked(const std::string& node, const std::string& id) const;
  nlohmann::json NodeJson(const NodeRecord& n, bool with_indexes) const;
  nlohmann::json ServiceNodeJson(const NodeRecord& n, const ServiceRecord& s) const;
  nlohmann::json AgentServiceJson(const ServiceRecord& s, bool with_indexes) const;
  nlohmann::json CheckJson(const CheckRecord& c) const;
  std::vector<std::string> ServiceKeysByNameLocked(const std::string& name) const;
  bool HasAllTags(const ServiceRecord& s, const std::vector<std::string>& tags) const;

  ConsulOptions options_;
  std::string node_id_;
  std::map<std::string, std::string> agent_ids_;  // NodeKey of each agent node → node ID
  mutable std::mutex mu_;
  std::condition_variable changed_;   // every commit and Stop
  std::condition_variable schedule_;  // registrations of executed checks and Stop
  bool stopping_ = false;
  bool schedule_dirty_ = false;
  std::atomic<uint64_t> changes_{0};

  uint64_t index_ = 0;  // the raft index
  uint64_t kvs_index_ = 0, tombstones_index_ = 0, nodes_index_ = 0, services_index_ = 0,
           checks_index_ = 0, sessions_index_ = 0;

  std::map<std::string, KvEntry> kv_;
  std::map<std::string, uint64_t> tombstones_;  // key (or deleted prefix) → index
  std::map<std::string, Clock::time_point> lock_delays_;
  // While a transaction runs: the prior value of every key and tombstone it touches.
  std::vector<std::pair<std::string, std::optional<KvEntry>>>* kv_undo_ = nullptr;
  std::vector<std::pair<std::string, std::optional<uint64_t>>>* tomb_undo_ = nullptr;

  std::map<std::string, SessionRecord> sessions_;

  std::map<std::string, NodeRecord> nodes_;                        // by NodeKey
  std::map<std::string, ServiceRecord> services_;                  // by ItemKey(node, service id)
  std::map<std::string, CheckRecord> checks_;                      // by ItemKey(node, check id)
  std::map<std::string, std::set<std::string>> services_by_name_;  // lower name → service keys
  std::map<std::string, uint64_t> service_name_index_;             // lower name → index
  // CheckJson text per check (ItemKey), reused while the check and its service are unchanged.
  struct CheckText {
    CheckSpec spec;
    uint64_t create_index = 0, modify_index = 0;
    std::string service_name;
    std::vector<std::string> service_tags;
    std::string json;
  };
  mutable std::map<std::string, CheckText> check_text_;
};

}  // namespace galley::sandbox::consul
