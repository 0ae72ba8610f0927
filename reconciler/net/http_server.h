// SPDX-License-Identifier: Apache-2.0
// HttpServer: a small HTTP/1.1 server for the sandbox emulators, the test server and, later,
// `galley serve`'s transport. One I/O thread owns every socket: it accepts, reads requests
// under deadlines and writes answers; complete requests run on a pool of handler threads
// (created on demand, one per request being handled, idle ones exit after a few seconds), so
// a handler may block (Consul blocking queries) or stream (Marathon's server-sent events)
// without stalling others, while idle and slow connections cost no thread.
//
// Limits (HttpServerOptions): a request's header must arrive within header_timeout and its
// body within body_timeout; a keep-alive connection waits idle_timeout for the next request.
// A streamed response is not subject to the read deadlines, only to write_timeout per chunk.
// A new connection beyond max_connections closes the longest-idle keep-alive connection or,
// when none is idle, is answered 503 with "Connection: close" and "Retry-After". A body over
// max_body_bytes is answered 413; request bodies over 64 KiB are charged to
// max_inflight_body_bytes while they are read and handled, and a request that would pass
// it is answered 503. Memory of a large body is given back to the OS after its request.
// Stop() closes the listener, unblocks every connection and joins all threads; only the I/O
// thread ever closes a socket. Beast stays inside http_server.cc.
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
  size_t max_inflight_body_bytes = 256u << 20;
  std::chrono::milliseconds header_timeout{10000};  // from accept, or from the request's first byte
  std::chrono::milliseconds body_timeout{60000};    // the whole body, after the header
  std::chrono::milliseconds idle_timeout{60000};    // keep-alive: waiting for the next request
  std::chrono::milliseconds write_timeout{30000};   // an answer, or each chunk of a stream
  std::string server_header;                        // sent as "Server:" when not empty
};

// Counters for tests, benchmarks and (later) metrics.
struct HttpServerStats {
  uint64_t requests = 0;          // requests answered (by a handler)
  uint64_t open_connections = 0;  // connections open now
  uint64_t rejected = 0;          // connections answered 503 over max_connections
  uint64_t evicted = 0;           // idle keep-alive connections closed to make room
  uint64_t timed_out = 0;         // connections closed by a read or write deadline
  uint64_t handler_threads = 0;   // handler threads alive now (busy or idle)
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // Starts listening; fails with kUnavailable when the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   HttpHandler handler);

  virtual uint16_t port() const = 0;
  // Stops accepting, wakes streams (StreamWriter::Done()) and joins every thread. Idempotent.
  virtual void Stop() = 0;
  // Number of requests answered so far (for tests and benchmarks).
  virtual uint64_t requests_served() const = 0;
  virtual HttpServerStats stats() const = 0;
};

}  // namespace galley::net
