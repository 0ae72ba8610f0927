// SPDX-License-Identifier: Apache-2.0
// A retrying HttpClient decorator: repeats a request that failed in a way that may pass —
// kUnavailable or kTimeout from the transport, HTTP 502/503/504/429 from the server — with
// exponential backoff and jitter, bounded by a number of attempts and a total time.
//   - Idempotent requests (net::IsIdempotent: GET/HEAD/OPTIONS, or ClientRequest::idempotent
//     = true) are retried on all of the above.
//   - Other requests (POST, PUT, PATCH, DELETE by default) are retried only when the inner
//     client reports (SendFailure::request_may_have_been_sent == false) that nothing reached
//     the server: name not resolved, connection refused or not opened in time, TLS handshake
//     failed. Never after the request may have been processed, never on an HTTP status.
//   - Failures the inner client marks permanent (certificate rejected, answer too large) and
//     other codes (kInvalidArgument, ...) are returned at once.
//   - A Retry-After header in seconds on a 429/502/503/504 replaces the computed backoff
//     (capped at max_retry_after); an HTTP-date Retry-After falls back to the backoff.
// When retries run out the last result is returned: a response as it is (its status tells),
// an error with " (after N attempts)" appended to its message. The budget counts time spent
// in the inner client plus the sleeps; no sleep or new attempt starts past max_total (an
// attempt already running is bounded by its own ClientRequest::timeout).
// Stream goes to the inner client as it is, never repeated (a stream's user reconnects).
// Thread-safe when the inner client is (Send may be called concurrently).
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "net/http_client.h"

namespace galley::net {

struct RetryPolicy {
  int max_attempts = 4;  // including the first; 1 = never retry
  std::chrono::milliseconds initial_backoff{200};
  double multiplier = 2.0;
  std::chrono::milliseconds max_backoff{3000};
  std::chrono::milliseconds max_total{20000};
  // Each sleep is drawn uniformly from [backoff/2, backoff] so that clients that failed
  // together do not retry together.
  bool jitter = true;
  std::chrono::milliseconds max_retry_after{10000};  // cap on a server's Retry-After
};

// Called with each backoff; the default sleeps the calling thread.
using SleepFunction = std::function<void(std::chrono::milliseconds)>;

// `inner` is not owned and must outlive the result.
std::unique_ptr<HttpClient> NewRetryingHttpClient(HttpClient* inner, RetryPolicy policy = {},
                                                  SleepFunction sleep = {});
// The same, owning `inner`.
std::unique_ptr<HttpClient> NewRetryingHttpClient(std::unique_ptr<HttpClient> inner,
                                                  RetryPolicy policy = {},
                                                  SleepFunction sleep = {});

}  // namespace galley::net
