// SPDX-License-Identifier: Apache-2.0
// HttpClient: blocking HTTP/1.1 requests with a deadline covering connect, write and read.
// The interface is what callers depend on (fakes implement it in tests); NewHttpClient()
// returns the Beast implementation, which opens one connection per request and speaks
// plain http:// (galley's Marathon/Consul clients add reuse, retries and TLS on top).
// Thread-safe: Send may be called concurrently.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "base/status.h"
#include "net/http_types.h"

namespace galley::net {

struct ClientRequest {
  std::string method = "GET";
  std::string url;  // absolute: http://host:port/path?query
  Headers headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};
  size_t max_response_bytes = 64u << 20;
};

struct ClientResponse {
  int status = 0;
  Headers headers;
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Fails with kUnavailable (cannot connect, connection dropped, malformed response),
  // kTimeout (deadline passed) or kInvalidArgument (bad URL). Any HTTP status is a success
  // at this level.
  virtual Result<ClientResponse> Send(const ClientRequest& request) = 0;
};

std::unique_ptr<HttpClient> NewHttpClient();

// TODO(issue #4): HttpClientOptions (TLS with verification and a CA file, keep-alive
// connection reuse) and a retrying decorator for idempotent requests.

}  // namespace galley::net
