// SPDX-License-Identifier: Apache-2.0
// HttpServer: a small HTTP/1.1 server for loopback tools (the sandbox emulators, the test
// server, later `galley serve`'s transport). One thread accepts; each connection gets its own
// thread running keep-alive request/response cycles, so a handler may block (Consul
// blocking queries) or stream (Marathon's server-sent events) without stalling others.
// Connections beyond max_connections are refused; idle keep-alive connections stay until
// the peer closes them or the server stops. Stop() closes the listener, unblocks
// every connection and joins all threads. Beast stays inside http_server.cc.
// Thread-safe: Start/Stop from one owner thread; the handler is called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "net/http_types.h"

namespace galley::net {

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port (see HttpServer::port())
  size_t max_connections = 512;
  size_t max_body_bytes = 32u << 20;
  std::string server_header;               // sent as "Server:" when not empty
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // Starts listening; fails with kUnavailable when the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options, HttpHandler handler);

  virtual uint16_t port() const = 0;
  // Stops accepting, wakes streams (StreamWriter::Done()) and joins every thread. Idempotent.
  virtual void Stop() = 0;
  // Number of requests answered so far (for tests and benchmarks).
  virtual uint64_t requests_served() const = 0;
};

}  // namespace galley::net
