// SPDX-License-Identifier: Apache-2.0
// ConsulClient: the Consul HTTP API v1 calls galley makes. NewConsulClient returns the HTTP
// implementation over net::HttpClient: X-Consul-Token from the endpoint, base64 values
// decoded, 404 on a KV prefix read as "no keys", errors turned into Status messages naming
// the endpoint ("consul http://c:8500: GET /v1/kv/app/?recurse: 500 ..."). One recurse per
// managed prefix, so the request count does not grow with the number of keys.
// Details: GET only; key paths are percent-encoded per segment ('/' kept); a KV 404 counts
// as "no keys" (ListKv) or kNotFound (GetKv) only when it carries X-Consul-Index, as
// Consul's does (otherwise it is a wrong URL or a proxy, reported as an error); Consul's
// plain-text error bodies end the message ("...: 403 Forbidden: Permission denied");
// status codes map as in marathon_client.h (401/403 kPermissionDenied, 5xx kUnavailable,
// ...); transport failures keep their code (kUnavailable, kTimeout). ServiceHealth's
// `passing` means every check of the entry (node checks included) is "passing"; `address`
// is the service address, else the node's.
// requests() counts every request sent, failed ones included. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
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
  virtual Result<std::vector<HealthInstance>> ServiceHealth(const std::string& name, bool passing_only) = 0;
  virtual int requests() const = 0;
};

// `http` must outlive the client.
std::unique_ptr<ConsulClient> NewConsulClient(const ConsulEndpoint& endpoint, net::HttpClient* http);

struct ConsulClientOptions {
  std::chrono::milliseconds timeout{10000};  // per request
  size_t max_response_bytes = 256u << 20;
};
std::unique_ptr<ConsulClient> NewConsulClient(const ConsulEndpoint& endpoint,
                                              net::HttpClient* http,
                                              const ConsulClientOptions& options);

}  // namespace galley::clients
