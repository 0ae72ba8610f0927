// SPDX-License-Identifier: Apache-2.0
// HttpClient: blocking HTTP/1.1 requests with deadlines, over http:// and https://.
// The interface is what callers depend on (fakes implement it in tests); NewHttpClient()
// returns the Beast implementation:
//   - keep-alive connections pooled per (scheme, host, port), each checked out by one
//     request at a time and shared across threads and calls; at most max_idle_per_host
//     idle ones are kept. An idle connection the server has closed is noticed before use,
//     and a reused connection that fails before any byte of the answer arrived (error on
//     write, or EOF/reset before the status line) is retried once, transparently, on a
//     fresh connection — for any method, since the server processed nothing. (A server
//     that reads a request and closes without answering, like the sandbox's drop fault,
//     therefore sees a request twice when it came on a reused connection.) A response
//     with "Connection: close" (or HTTP/1.0 without keep-alive) is not pooled. Pooled
//     sockets are close-on-exec.
//   - connect_timeout bounds connect and the TLS handshake; ClientRequest::timeout is the
//     deadline for the whole Send (connect included, then write and read).
//   - https:// through OpenSSL: SNI, certificate and host name (or IP address) verification
//     against the system store or HttpClientOptions::ca_file.
// Retries of whole requests are a separate decorator: net/retrying_http_client.h.
// Name resolution is bounded like connect (connect_timeout and the request's deadline): the
// OS resolver cannot be cancelled, so it runs on a helper thread that a timed-out lookup
// leaves behind (at most 16 such lookups at once; beyond that a lookup fails at once).
// Streaming (Stream): a request whose answer is consumed as it arrives (Marathon's
// /v2/events): always a fresh connection with "Connection: close", never pooled; the head is
// bounded by ClientRequest::timeout, the body by an idle timeout (no byte for
// StreamCallbacks::idle_timeout: kTimeout) instead of a whole-request deadline, so a stream
// may run for days. Bodies delimited by the close, by Content-Length or chunked all work.
// Thread-safe: Send may be called concurrently. The client must outlive every Send.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "net/http_types.h"

#ifndef GALLEY_VERSION
#define GALLEY_VERSION "dev"
#endif

namespace galley::net {

struct ClientRequest {
  std::string method = "GET";
  std::string url;  // absolute: http://host:port/path?query or https://...
  Headers headers;  // override the client's (User-Agent, Host, Connection, ...)
  std::string body;
  std::chrono::milliseconds timeout{10000};  // deadline for the whole request
  size_t max_response_bytes = 64u << 20;     // body bytes; more fails the request
  // Whether sending this request twice has the effect of sending it once; decides whether
  // the retrying decorator may repeat it. Unset: GET, HEAD, OPTIONS (and TRACE) are
  // idempotent; PUT, DELETE, POST, PATCH are not unless the caller says so (a Consul txn
  // with cas, or a full-body PUT, is).
  std::optional<bool> idempotent;
};

// The effective idempotency of `request` (see ClientRequest::idempotent).
bool IsIdempotent(const ClientRequest& request);

struct ClientResponse {
  int status = 0;
  Headers headers;
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// What a failed Send got as far as; lets a retrying layer decide whether a repeat is safe
// and useful. Filled by HttpClient::SendDetailed.
struct SendFailure {
  // False only when no byte of the request can have reached the server: the name did not
  // resolve, the connection was refused or did not open in time, the TLS handshake failed.
  bool request_may_have_been_sent = true;
  // True when repeating the request cannot help: the server's certificate was rejected, the
  // answer is larger than max_response_bytes, the CA file cannot be read, the URL is bad.
  bool permanent = false;
};

struct HttpClientOptions {
  // PEM file of the CAs to trust for https:// (replaces the system store); "" = the system
  // store (OpenSSL's default paths).
  std::string ca_file;
  // false disables certificate and host name verification for https:// — UNSAFE: anyone on
  // the path can read and change the traffic. For lab setups only.
  bool verify_tls = true;
  // Idle keep-alive connections kept per (scheme, host, port); 0 disables reuse (and sends
  // "Connection: close").
  size_t max_idle_per_host = 8;
  // Bound on connect (all resolved addresses) plus the TLS handshake.
  std::chrono::milliseconds connect_timeout{3000};
  std::string user_agent = "galley/" GALLEY_VERSION;
  // Host name → IP addresses; empty: the OS resolver (getaddrinfo). Tests replace it. IP
  // literals are never resolved.
  std::function<Result<std::vector<std::string>>(const std::string& host)> resolve;
};

// What Stream hands its caller. Every callback runs on the calling thread.
struct StreamCallbacks {
  // The status line and headers (ClientResponse::body empty), once; false stops the stream
  // before the body (Stream then returns OK). Unset: carry on.
  std::function<bool(const ClientResponse& head)> on_head;
  // Each piece of the body as it arrives (chunked framing removed; pieces split anywhere);
  // false stops the stream (OK). Unset: the body is read and dropped.
  std::function<bool(std::string_view data)> on_data;
  // Polled about every poll_interval while waiting for bytes; true stops the stream (OK).
  std::function<bool()> stop;
  // No byte of the body for this long: kTimeout ("... no data within N ms").
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds poll_interval{100};
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Fails with kUnavailable (cannot connect, connection dropped, malformed response,
  // certificate rejected, answer over max_response_bytes), kTimeout (deadline passed) or
  // kInvalidArgument (bad URL, a header name or value with a line break, unreadable CA
  // file). Any HTTP status is a success at this level. Messages start with
  // "<METHOD> <url>: ", e.g.
  //   "GET http://h:p/x: no answer within 150 ms" (kTimeout)
  //   "GET http://h:p/x: connection refused" (kUnavailable)
  //   "GET http://h:p/x: cannot connect within 3000 ms" (kUnavailable: connect_timeout)
  //   "GET https://h:p/x: TLS handshake failed: certificate verify failed: <why>"
  // Repeated response header fields are joined with ", ".
  virtual Result<ClientResponse> Send(const ClientRequest& request) = 0;

  // Send, and on failure describe in *failure (when not null) how far the request got.
  // The default calls Send and assumes the worst (the request may have been sent).
  virtual Result<ClientResponse> SendDetailed(const ClientRequest& request, SendFailure* failure) {
    if (failure) *failure = SendFailure{};
    return Send(request);
  }

  // Sends `request` and streams the answer to `callbacks` (see the file comment). Returns OK
  // when the body ended (the server closed a close-delimited body, the last chunk, or
  // Content-Length reached) or a callback or `stop` ended it; kTimeout when the head did not
  // arrive within request.timeout ("no answer within N ms") or the body was idle for
  // idle_timeout ("no data within N ms"); kUnavailable when the connection failed or dropped
  // in the middle of a chunked or sized body; kInvalidArgument as Send. Any HTTP status is
  // streamed like a 200 (the caller looks at on_head). request.max_response_bytes is not
  // applied. The default, for clients without streaming (test fakes), fails with kInternal.
  virtual Status Stream(const ClientRequest& request, const StreamCallbacks& callbacks) {
    (void)callbacks;  // unused: nothing is sent
    return Status::Internal(request.method + " " + request.url +
                            ": this HTTP client cannot stream answers");
  }
};

// The Beast client with default options.
std::unique_ptr<HttpClient> NewHttpClient();
std::unique_ptr<HttpClient> NewHttpClient(const HttpClientOptions& options);

}  // namespace galley::net
