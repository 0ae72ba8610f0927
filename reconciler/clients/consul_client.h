// SPDX-License-Identifier: Apache-2.0
// ConsulClient: the Consul HTTP API v1 calls galley makes. NewConsulClient returns the HTTP
// implementation over net::HttpClient: X-Consul-Token from the endpoint, base64 values
// decoded, 404 on a KV prefix read as "no keys", errors turned into Status messages naming
// the endpoint ("consul http://c:8500: GET /v1/kv/app/?recurse: 500 ..."). One recurse per
// managed prefix, so the request count does not grow with the number of keys.
// Details: key paths are percent-encoded per segment ('/' kept); a KV 404 counts
// as "no keys" (ListKv) or kNotFound (GetKv) only when it carries X-Consul-Index, as
// Consul's does (otherwise it is a wrong URL or a proxy, reported as an error); Consul's
// plain-text error bodies end the message ("...: 403 Forbidden: Permission denied");
// status codes map as in marathon_client.h (401/403 kPermissionDenied, 5xx kUnavailable,
// ...); transport failures keep their code (kUnavailable, kTimeout). ServiceHealth's
// `passing` means every check of the entry (node checks included) is "passing"; `address`
// is the service address, else the node's.
// Writes: messages never contain a KV value (values may be secrets). Requests are marked
// idempotent (a retrying transport may repeat them) when repeating cannot undo another
// writer's change: GETs, session renew/destroy, lock acquire/release, and KV writes, deletes
// and transactions only with cas (every txn op a cas, delete-cas or check-index). Leading
// slashes of keys are dropped everywhere, as Consul's KV endpoints do. An empty Txn commits
// without a request. AcquireLock with a session Consul does not know (500 `invalid
// session`) fails with kNotFound naming it; ReleaseLock leaves the key's value empty (Consul
// writes the request body on release).
// requests() counts every request sent, failed ones included. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "clients/endpoints.h"
#include "model/live_state.h"
#include "net/http_client.h"

namespace galley::clients {

struct KvList {
  std::vector<model::LiveKvEntry> entries;  // sorted by key
  uint64_t index = 0;                       // X-Consul-Index of the answer
};

struct HealthInstance {
  std::string node, address;
  int port = 0;
  std::string service_id;
  std::vector<std::string> tags;
  bool passing = false;
};

// One KV operation of a transaction (PUT /v1/txn). Verbs as Consul names them.
struct KvTxnOp {
  enum class Verb { kSet, kCas, kDelete, kDeleteCas, kCheckIndex };
  Verb verb = Verb::kSet;
  std::string key;
  std::string value;   // kSet / kCas (sent base64-encoded)
  uint64_t index = 0;  // kCas / kDeleteCas / kCheckIndex; kCas with 0 = only if absent
};

struct KvTxnResult {
  bool committed = false;
  // When not committed: one line per failed op as Consul reports it ("op 2: failed to set
  // key \"k\", index is stale").
  std::vector<std::string> errors;
  std::vector<int> failed_ops;              // OpIndex of each error
  std::map<std::string, uint64_t> indexes;  // key → ModifyIndex after a committed write
};

struct SessionOptions {
  std::string name;            // "galley apply user@host"
  int ttl_seconds = 15;        // "15s"
  int lock_delay_seconds = 0;  // sent explicitly ("0s"); Consul's default is 15 s
  std::string behavior = "release";
};

class ConsulClient {
 public:
  virtual ~ConsulClient() = default;
  // Every key under `prefix` ("app/production/"): GET /v1/kv/<prefix>?recurse.
  virtual Result<KvList> ListKv(const std::string& prefix) = 0;
  // One key; kNotFound when absent.
  virtual Result<model::LiveKvEntry> GetKv(const std::string& key) = 0;
  // Registered service names and their tags (GET /v1/catalog/services).
  virtual Result<std::map<std::string, std::vector<std::string>>> ListServices() = 0;
  // GET /v1/health/service/<name>[?passing].
  virtual Result<std::vector<HealthInstance>> ServiceHealth(const std::string& name,
                                                            bool passing_only) = 0;
  virtual int requests() const = 0;

  // Writes.
  // PUT /v1/txn with at most 64 ops (kInvalidArgument for more: callers chunk). 200 →
  // committed; 409 → not committed, with Consul's per-op errors (a stale cas is a conflict,
  // not an error). Idempotent only when every op is a cas/check (a retried cas fails cleanly).
  virtual Result<KvTxnResult> Txn(const std::vector<KvTxnOp>& ops) = 0;
  // PUT /v1/kv/<key>[?cas=N]: false when the cas did not match.
  virtual Result<bool> PutKv(const std::string& key, const std::string& value,
                             std::optional<uint64_t> cas) = 0;
  // PUT /v1/session/create → the session id.
  virtual Result<std::string> CreateSession(const SessionOptions& options) = 0;
  // PUT /v1/session/renew/<id>; kNotFound when the session is gone (expired or destroyed).
  virtual Status RenewSession(const std::string& id) = 0;
  // PUT /v1/session/destroy/<id>.
  virtual Status DestroySession(const std::string& id) = 0;
  // PUT /v1/kv/<key>?acquire=<session> with `value`: true when this session now holds it.
  virtual Result<bool> AcquireLock(const std::string& key, const std::string& value,
                                   const std::string& session) = 0;
  // PUT /v1/kv/<key>?release=<session>: true when it was held by that session.
  virtual Result<bool> ReleaseLock(const std::string& key, const std::string& session) = 0;
  // DELETE /v1/kv/<key>[?cas=N]: false when the cas did not match.
  virtual Result<bool> DeleteKv(const std::string& key, std::optional<uint64_t> cas) = 0;
};

// `http` must outlive the client.
std::unique_ptr<ConsulClient> NewConsulClient(const ConsulEndpoint& endpoint,
                                              net::HttpClient* http);

struct ConsulClientOptions {
  std::chrono::milliseconds timeout{10000};  // per request
  size_t max_response_bytes = 256u << 20;
};
std::unique_ptr<ConsulClient> NewConsulClient(const ConsulEndpoint& endpoint, net::HttpClient* http,
                                              const ConsulClientOptions& options);

}  // namespace galley::clients
