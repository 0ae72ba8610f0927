// SPDX-License-Identifier: Apache-2.0
// Watching Consul with blocking queries (consul-api.md §3), for the agent's load-balancer
// manager (DESIGN §8 point 14):
//   - BlockingQuery: one endpoint read with `?index=N&wait=W`, remembering X-Consul-Index.
//     The index rules of Consul's documentation: the first read (index 0) answers at once; an
//     index that went backwards (snapshot restore, the highest key of a prefix deleted) resets
//     to 0, so the next read answers at once; an index of 0 counts as 1. The wait sent is
//     jittered downwards by up to wait/16 so many agents started together spread out; the
//     HTTP deadline is wait + wait/16 (Consul's own jitter) + slack.
//   - LongPoll: a BlockingQuery looping on its own thread, handing each answer to a callback
//     and backing off (1 s doubling to 10 s) after a failure. Stop() returns once the request
//     in flight ends, so it can take up to `wait`: agents use a modest wait (30 s default).
//   - ChecksTracker / ServicesTracker (pure): which services an answer of
//     /v1/health/state/any or /v1/catalog/services changed compared to the previous one.
//   - MembershipWatch: the passing instances of a set of registered service names with a
//     CONSTANT number of long polls whatever the number of services:
//       1. /v1/health/state/any — every check in the datacenter. A check added, removed, or
//          whose Status or ModifyIndex moved marks its ServiceName dirty; a node-level check
//          (serfHealth, node maintenance) marks every service seen on that node dirty.
//          Registering or deregistering an instance that has checks adds or removes checks,
//          so it shows here too.
//       2. /v1/catalog/services — registrations. A name appearing, disappearing or whose tag
//          union changed is dirty. Any index move also marks dirty the watched services that
//          have an instance WITHOUT service checks (an app without health checks registers
//          while TASK_RUNNING, DESIGN §8 point 14): such an instance coming or going moves
//          only this index, and Consul offers no one-request way to say which service moved.
//          Assumption (the registrator's behaviour): a service's instances either all carry
//          the mirrored Marathon check or none does.
//     Then only the dirty services are read, one /v1/health/service/<name> each (without
//     ?passing, so instances on a failed node stay known per node; `passing` is filtered
//     here). Requests per change therefore follow what changed, not how many services
//     exist. A failed read keeps that service's last known instances (never an empty
//     backend because Consul did not answer) and stays dirty for the next Refresh.
// Thread-safety: BlockingQuery and the trackers are single-owner values; LongPoll and
// MembershipWatch are thread-safe (callbacks run on the poll threads).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "clients/consul_client.h"
#include "clients/endpoints.h"
#include "model/desired_state.h"
#include "net/http_client.h"

namespace galley::clients {

struct BlockingOptions {
  std::chrono::milliseconds wait{30000};   // ?wait=; Consul clamps to 10 min
  std::chrono::milliseconds slack{10000};  // added to the HTTP deadline
};

struct BlockingAnswer {
  int status = 200;  // 200, or 404 for a KV key that does not exist (it carries an index)
  std::string body;
  uint64_t index = 0;
  bool changed = false;  // the index moved (or this is the first answer)
};

// Consul's client rule for the next index: `returned` < `previous` → 0 (start over, answer
// at once); 0 → 1.
uint64_t NextBlockingIndex(uint64_t previous, uint64_t returned);

class BlockingQuery {
 public:
  // `target` is a path with its query, e.g. "/v1/health/state/any" or "/v1/kv/a/b".
  // `http` must outlive the query.
  BlockingQuery(ConsulEndpoint endpoint, net::HttpClient* http, std::string target,
                BlockingOptions options = {});
  // One read: at once when the index is 0, else blocking until the index passes it or the
  // wait ends. Errors (naming the endpoint): transport failures, statuses other than 200 (and
  // 404 with X-Consul-Index), an answer without X-Consul-Index.
  [[nodiscard]] Result<BlockingAnswer> Next();
  void Reset() { index_ = 0; }
  uint64_t index() const { return index_; }
  const std::string& target() const { return target_; }
  int requests() const { return requests_.load(); }

 private:
  ConsulEndpoint endpoint_;
  net::HttpClient* http_;
  std::string target_;
  BlockingOptions options_;
  uint64_t index_ = 0;
  std::atomic<int> requests_{0};
  uint64_t seed_;
};

class LongPoll {
 public:
  using OnAnswer = std::function<void(const BlockingAnswer&)>;
  using OnError = std::function<void(const Status&)>;
  // Starts polling at once. `on_answer` runs for every answer whose index moved (and the
  // first); `on_error` for each failed read. Both run on the poll's thread.
  // `held`: after each answer the loop waits for Release() (or Stop) before the next read,
  // so a caller can have the first answer early without a blocking read in flight.
  LongPoll(ConsulEndpoint endpoint, net::HttpClient* http, std::string target,
           BlockingOptions options, OnAnswer on_answer, OnError on_error, Clock* clock = nullptr,
           bool held = false);
  void Release();
  ~LongPoll();
  // Ends the loop; returns once the request in flight has ended. Idempotent.
  void Stop();
  // Asks the loop to end without waiting (Stop joins); lets several polls stop together.
  void RequestStop();
  int requests() const { return query_.requests(); }

 private:
  void Loop();
  BlockingQuery query_;
  OnAnswer on_answer_;
  OnError on_error_;
  Clock* clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool held_ = false;
  std::thread thread_;
};

// ---- Pure trackers -------------------------------------------------------------------------

struct CheckDelta {
  std::set<std::string> services;  // ServiceName of checks added, removed or changed
  std::set<std::string> nodes;     // nodes whose node-level checks changed
};

// The fields of one /v1/health/state/<state> entry the watch uses.
struct CheckFields {
  std::string node, check_id, service_name, service_id, status;
  uint64_t modify_index = 0;
};

// Reads a /v1/health/state/<state> answer (a JSON array of check objects) without building
// a JSON document. Every entry must be an object with string Node and CheckID; other fields
// that are not strings count as absent, a ModifyIndex that is not an unsigned integer as 0.
// nullopt with *error ("invalid JSON in answer", "not a JSON array", "an entry without
// string Node and CheckID") otherwise.
std::optional<std::vector<CheckFields>> ScanCheckListing(std::string_view body, std::string* error);

// Follows /v1/health/state/any answers.
class ChecksTracker {
 public:
  // Errors (kInvalidArgument): not a JSON array of objects with string Node and CheckID.
  // On error the tracker keeps its previous state.
  [[nodiscard]] Result<CheckDelta> Update(std::string_view body);
  // Whether the instance (node, service id) has at least one service check.
  bool HasServiceChecks(const std::string& node, const std::string& service_id) const;
  bool seen() const { return seen_; }
  // Whether every check of the instance (node, service id) passes: its service checks and
  // its node's node-level checks, as /v1/health/service/<name>?passing decides (an instance
  // without checks passes). Per instance in O(1) after `Index` was called.
  struct PassingIndex {
    std::unordered_set<std::string> failing_nodes;      // a node-level check not passing
    std::unordered_set<std::string> failing_instances;  // "<node>\x1f<service id>"
    bool Passing(const std::string& node, const std::string& service_id) const {
      return !failing_nodes.count(node) && !failing_instances.count(node + '\x1f' + service_id);
    }
  };
  PassingIndex Index() const;

 private:
  struct Check {
    std::string node, service_name, service_id, status;
    uint64_t modify_index = 0;
    uint64_t gen = 0;  // the Update that last listed it
    bool Same(const Check& o) const {
      return modify_index == o.modify_index && status == o.status && node == o.node &&
             service_name == o.service_name && service_id == o.service_id;
    }
  };
  // Updated in place, each entry stamped with the Update that listed it (an answer differs
  // from the previous one in a few checks; rebuilding both tables allocated ~27,000 nodes).
  std::unordered_map<std::string, Check> checks_;        // "<node>\x1f<check id>"
  std::unordered_map<std::string, uint64_t> instances_;  // "<node>\x1f<service id>" → gen
  uint64_t gen_ = 0;
  bool seen_ = false;
};

// Follows /v1/catalog/services answers.
class ServicesTracker {
 public:
  // Names that appeared, disappeared or whose tags changed. Errors: not a JSON object of
  // string arrays (the state is kept).
  [[nodiscard]] Result<std::set<std::string>> Update(std::string_view body);

 private:
  std::map<std::string, std::set<std::string>> services_;
};

// ---- The membership watch ------------------------------------------------------------------

struct MembershipOptions {
  BlockingOptions blocking;
  int fetch_threads = 8;  // parallel /v1/health/service reads when many services are dirty
  // With at least this many services to read (a cold start, a full resync) and fewer than
  // half as many nodes in the catalog, read the catalog per node instead: /v1/catalog/nodes
  // and one /v1/catalog/node/<node> each, with the passing state from /v1/health/state/any.
  size_t by_node_from = 64;
};

struct MembershipSnapshot {
  model::Instances instances;       // passing instances of every watched name (last known)
  std::vector<std::string> errors;  // reads that failed in this Refresh (their data is kept)
  int fetched = 0;                  // /v1/health/service reads this Refresh made
  int node_reads = 0;               // /v1/catalog/node(s) reads instead (0: per service)
  std::set<std::string> unknown;    // watched names never read successfully (empty above)
};

class MembershipWatch {
 public:
  // `http` serves the long polls, `consul` the per-service reads; both must outlive this.
  MembershipWatch(ConsulEndpoint endpoint, net::HttpClient* http, ConsulClient* consul,
                  MembershipOptions options = {}, Clock* clock = nullptr);
  ~MembershipWatch();

  // The registered names that matter (the LB model's). Newly named ones are read at the next
  // Refresh; names no longer watched are forgotten.
  void SetServices(const std::set<std::string>& names);
  // Starts the two long polls; `on_change` runs on their threads whenever a service may have
  // changed (or a poll failed or recovered). Without Start, Refresh reads only what
  // SetServices added.
  // `held`: each poll reads once, then waits for Release() (Stop returns at once meanwhile).
  void Start(std::function<void()> on_change, bool held = false);
  void Release();
  void Stop();

  // Reads the dirty services and returns the last known instances of every watched one.
  MembershipSnapshot Refresh();
  // Marks every watched service dirty (a full resync).
  void MarkAllDirty();
  // Whether services wait to be read (dirty, or their last read failed).
  bool HasDirty() const;
  // The long polls' last failure, "" once they answer again.
  std::string poll_error() const;
  // Long-poll requests sent so far (both polls).
  int poll_requests() const;
  // Both polls have answered (or failed) at least once since Start.
  bool primed() const;

 private:
  void OnChecks(const BlockingAnswer& a);
  void OnServices(const BlockingAnswer& a);
  void OnPollError(const std::string& which, const Status& s);
  // The instances of `names` read per node (see MembershipOptions::by_node_from); nullopt
  // when that does not pay or a read failed (the caller reads per service).
  std::optional<std::map<std::string, std::vector<HealthInstance>>> ReadByNode(
      const std::set<std::string>& names, int* reads);

  ConsulEndpoint endpoint_;
  net::HttpClient* http_;
  ConsulClient* consul_;
  MembershipOptions options_;
  Clock* clock_;

  mutable std::mutex mu_;
  std::set<std::string> watched_;
  std::set<std::string> dirty_;
  std::map<std::string, std::vector<HealthInstance>> known_;  // all instances, passing or not
  std::map<std::string, std::set<std::string>> on_node_;      // node → services seen there
  ChecksTracker checks_;
  ServicesTracker services_;
  bool services_seen_ = false;
  std::map<std::string, std::string> poll_errors_;
  std::function<void()> on_change_;
  std::unique_ptr<LongPoll> checks_poll_, services_poll_;
};

// The value of one KV key, followed with a blocking query (the agent's LB model).
struct KvValue {
  bool exists = false;
  std::string value;
  uint64_t index = 0;
};

// Decodes a blocking read of /v1/kv/<key> (a JSON array with one entry, or 404).
[[nodiscard]] Result<KvValue> DecodeKvAnswer(const BlockingAnswer& answer);

class KvWatch {
 public:
  KvWatch(ConsulEndpoint endpoint, net::HttpClient* http, std::string key,
          BlockingOptions options = {}, Clock* clock = nullptr);
  ~KvWatch();
  void Start(std::function<void()> on_change, bool held = false);  // as MembershipWatch's
  void Release();
  void Stop();
  // The last value read; an error when no read succeeded yet or the last answer was garbage
  // (the previous good value is then still in `last_good`).
  struct State {
    bool have = false;  // a read succeeded at least once
    KvValue value;      // last good
    std::string error;  // last failure, "" after a good read
  };
  State state() const;
  const std::string& key() const { return key_; }

 private:
  ConsulEndpoint endpoint_;
  net::HttpClient* http_;
  std::string key_;
  BlockingOptions options_;
  Clock* clock_;
  mutable std::mutex mu_;
  State state_;
  std::function<void()> on_change_;
  std::unique_ptr<LongPoll> poll_;
};

}  // namespace galley::clients
