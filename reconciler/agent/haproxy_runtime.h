// SPDX-License-Identifier: Apache-2.0
// HAProxy's runtime API (the stats socket at level admin) behind an interface, so the agent's
// loop can be tested with a fake and run against the real socket. One command per
// connection, in the CLI's non-interactive mode: HAProxy answers and closes, so the reply is
// everything read until end of file. Commands may be joined with "; " on one line
// (haproxy-lab §5.4); never end a line with ';'.
// UnixSocketRuntime is thread-compatible: concurrent Send calls use separate connections.
#pragma once

#include <chrono>
#include <string>
#include <utility>

#include "base/status.h"

namespace galley::agent {

class HaproxyRuntime {
 public:
  virtual ~HaproxyRuntime() = default;
  // Sends one command line (no newline) and returns HAProxy's whole reply.
  [[nodiscard]] virtual Result<std::string> Send(const std::string& command) = 0;
};

class UnixSocketRuntime : public HaproxyRuntime {
 public:
  // Every Send (connect, write, read) finishes within `timeout` or fails with kTimeout.
  UnixSocketRuntime(std::string socket_path, std::chrono::milliseconds timeout)
      : path_(std::move(socket_path)), timeout_(timeout) {}
  [[nodiscard]] Result<std::string> Send(const std::string& command) override;

 private:
  std::string path_;
  std::chrono::milliseconds timeout_;
};

}  // namespace galley::agent
