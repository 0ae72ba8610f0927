// SPDX-License-Identifier: Apache-2.0
// An emulator (Marathon or Consul) served on a loopback port behind a FaultInjector, for
// tests that drive galley's commands in-process. Header-only: only test binaries that link
// the sandbox libraries include it.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "net/http_server.h"
#include "sandbox/common/emulator.h"
#include "sandbox/common/faults.h"

namespace galley::testing {

struct Emulated {
  std::unique_ptr<sandbox::Emulator> emulator;
  sandbox::FaultInjector faults;
  std::unique_ptr<net::HttpServer> server;
  std::string url;  // "http://127.0.0.1:<port>"

  // Replaces the fault plan (the JSON /_sandbox/faults takes) or clears it.
  void SetFaults(const std::string& plan) {
    faults.Handle({"PUT", "/_sandbox/faults", "/_sandbox/faults", {}, {}, plan}, nullptr);
  }
  void ClearFaults() { faults.Handle({"DELETE", "/_sandbox/faults", "/_sandbox/faults", {}, {}, ""}, nullptr); }
  void Stop() {
    if (emulator) emulator->Stop();
    if (server) server->Stop();
  }
};

inline void StartEmulated(Emulated& e, std::unique_ptr<sandbox::Emulator> emu) {
  e.emulator = std::move(emu);
  auto s = net::HttpServer::Start(net::HttpServerOptions{}, [&e](const net::HttpRequest& r) {
    return e.faults.Handle(r, [&e](const net::HttpRequest& q) { return e.emulator->Handle(q); });
  });
  ASSERT_TRUE(s.ok()) << s.status().message();
  e.server = std::move(s).value();
  e.url = "http://127.0.0.1:" + std::to_string(e.server->port());
}

}  // namespace galley::testing
