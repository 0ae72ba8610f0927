// SPDX-License-Identifier: Apache-2.0
// FaultInjector: wraps an emulator's handler so tests can make it misbehave on purpose —
// added latency, the next N calls failing with 500/503, dropped connections, garbage or
// truncated JSON, 409 storms — through a small admin endpoint on the same port:
//   GET    /_sandbox/faults   the current plan, how many faults were injected and how many
//                             requests (outside /_sandbox/) the port has answered
//   PUT    /_sandbox/faults   replace the plan with a JSON object (all fields optional):
//          {"latency_ms": 200, "fail_next": 3, "fail_status": 503, "drop_next": 1,
//           "garbage_next": 1, "truncate_next": 1, "conflict_next": 2,
//           "path_prefix": "/v2/apps", "methods": ["PUT", "POST"],
//           "body_contains": "\"Key\":\"app/"}
//   DELETE /_sandbox/faults   clear the plan
// Counters decrease only on requests that match path_prefix, methods and body_contains (a
// substring of the request body, so a test can fault one kind of Consul transaction); admin
// requests under
// /_sandbox/ are never faulted. fail_status is 200..599 (a 204 or 304 goes out without a
// body). Stop() cuts injected latency short so a stopping server is not held up.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "net/http_server.h"

namespace galley::sandbox {

class FaultInjector {
 public:
  // `conflict_body` is what a 409 storm answers (each API has its own shape).
  explicit FaultInjector(std::string conflict_body = R"({"message":"injected conflict"})")
      : conflict_body_(std::move(conflict_body)) {}

  // Handles /_sandbox/faults itself, applies the plan to everything else.
  net::HttpResponse Handle(const net::HttpRequest& req, const net::HttpHandler& next);
  // Wakes requests sleeping out injected latency; later requests get none. Idempotent.
  void Stop();

 private:
  struct Plan {
    int latency_ms = 0;
    int fail_next = 0;
    int fail_status = 500;
    int drop_next = 0;
    int garbage_next = 0;
    int truncate_next = 0;
    int conflict_next = 0;
    std::string path_prefix;
    std::vector<std::string> methods;
    std::string body_contains;
  };
  enum class Fault { kNone, kFail, kDrop, kGarbage, kTruncate, kConflict };

  net::HttpResponse Admin(const net::HttpRequest& req);
  // Picks the fault for this request (and consumes one count); returns the latency to add.
  Fault Pick(const net::HttpRequest& req, int* latency_ms);
  std::string PlanJson() const;  // REQUIRES: mu_ held

  std::string conflict_body_;
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopped_ = false;
  Plan plan_;
  uint64_t injected_ = 0;
  uint64_t requests_ = 0;  // every request outside /_sandbox/, faulted or not
};

}  // namespace galley::sandbox
