// SPDX-License-Identifier: Apache-2.0
// Emulator: what galley-sandbox's main needs from each emulated API (Marathon, Consul).
// An emulator is an HTTP handler plus a snapshot of its durable state (for --state FILE).
// Thread-safe: Handle is called concurrently from connection threads; it may block
// (blocking queries, event streams) until Stop() is called.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "net/http_types.h"

namespace galley::sandbox {

class Emulator {
 public:
  virtual ~Emulator() = default;
  virtual net::HttpResponse Handle(const net::HttpRequest& request) = 0;
  // Durable state (apps, versions, KV, sessions, registrations; not running tasks).
  virtual nlohmann::json Snapshot() const = 0;
  // Loads a snapshot taken by Snapshot(); call before serving. kInvalidArgument when the
  // snapshot is not one of ours.
  virtual Status Restore(const nlohmann::json& snapshot) = 0;
  // Grows with every change to durable state, so main knows when to save.
  virtual uint64_t ChangeCounter() const = 0;
  // Wakes blocked handlers (they answer or return), stops background threads and tasks.
  virtual void Stop() = 0;
};

}  // namespace galley::sandbox
