// SPDX-License-Identifier: Apache-2.0
// An emulator (Marathon or Consul) served on a loopback port behind a FaultInjector, for
// tests that drive galley's clients and commands in-process; stopped when destroyed.
// Header-only: only test binaries that link the sandbox libraries include it.
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "net/http_client.h"
#include "net/http_server.h"
#include "sandbox/common/emulator.h"
#include "sandbox/common/faults.h"

namespace galley::testing {

// An emulator behind a FaultInjector and an HttpServer on 127.0.0.1:<any port>.
class EmulatorServer {
 public:
  explicit EmulatorServer(std::unique_ptr<sandbox::Emulator> emulator,
                          std::string conflict_body = R"({"message":"injected conflict"})")
      : emulator_(std::move(emulator)), faults_(std::move(conflict_body)) {
    next_ = [this](const net::HttpRequest& r) { return emulator_->Handle(r); };
    auto s = net::HttpServer::Start(net::HttpServerOptions{}, [this](const net::HttpRequest& r) {
      return faults_.Handle(r, next_);
    });
    EXPECT_TRUE(s.ok()) << s.status().message();
    if (s.ok()) server_ = std::move(s).value();
    base_ = "http://127.0.0.1:" + std::to_string(server_ ? server_->port() : 0);
  }
  ~EmulatorServer() {
    emulator_->Stop();
    if (server_) server_->Stop();
  }
  const std::string& base() const { return base_; }
  uint16_t port() const { return server_->port(); }
  uint64_t served() const { return server_->requests_served(); }

  // A raw request with a fresh plain client (no auth), for setting up state.
  net::ClientResponse Call(const std::string& method, const std::string& target,
                           const std::string& body = "", net::Headers headers = {}) {
    net::ClientRequest req;
    req.method = method;
    req.url = base_ + target;
    req.body = body;
    req.headers = std::move(headers);
    if (!body.empty() && !req.headers.count("Content-Type"))
      req.headers["Content-Type"] = "application/json";
    auto r = raw_->Send(req);
    EXPECT_TRUE(r.ok()) << method << " " << target << ": " << r.status().message();
    return r.ok() ? *r : net::ClientResponse{};
  }
  // Replaces the fault plan (see sandbox/common/faults.h); {} clears it.
  void Faults(const nlohmann::json& plan) {
    auto r = plan.empty() ? Call("DELETE", "/_sandbox/faults")
                          : Call("PUT", "/_sandbox/faults", plan.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }

 private:
  std::unique_ptr<sandbox::Emulator> emulator_;
  sandbox::FaultInjector faults_;
  net::HttpHandler next_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> raw_ = net::NewHttpClient();
  std::string base_;
};

}  // namespace galley::testing
