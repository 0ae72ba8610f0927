// SPDX-License-Identifier: Apache-2.0
// Helpers for clients_test: a scripted fake net::HttpClient, the samples folder, and the
// Marathon/Consul emulators in-process behind net::HttpServer (port 0) with a FaultInjector
// in front of their handlers. Not thread-safe except where noted.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include "net/http_client.h"
#include "net/http_server.h"
#include "sandbox/common/faults.h"
#include "sandbox/consul/consul_emulator.h"
#include "sandbox/marathon/marathon_emulator.h"
#include "support/emulated.h"
#include "support/temp_repo.h"
#include "support/wait.h"

namespace galley::clients::testing {

using Json = nlohmann::json;
using std::chrono::milliseconds;

inline std::string Sample(const std::string& name) {
  return galley::testing::ReadText(galley::testing::SourceRoot() + "/tests/clients/samples/" +
                                   name);
}
inline Json SampleJson(const std::string& name) { return Json::parse(Sample(name)); }

// A small command app for the Marathon emulator, with an HTTP health check when asked.
inline Json SleepApp(const std::string& id, int instances, bool health = false) {
  Json a = {
      {"id", id}, {"cmd", "sleep 1000"}, {"instances", instances}, {"cpus", 0.01}, {"mem", 8}};
  if (health) {
    a["healthChecks"] =
        Json::array({{{"path", "/health"}, {"gracePeriodSeconds", 0}, {"intervalSeconds", 1}}});
  }
  return a;
}

// A net::HttpClient whose answers come from a function; records every request. Thread-safe.
class FakeHttp : public net::HttpClient {
 public:
  using Handler = std::function<Result<net::ClientResponse>(const net::ClientRequest&)>;
  explicit FakeHttp(Handler handler) : handler_(std::move(handler)) {}

  Result<net::ClientResponse> Send(const net::ClientRequest& request) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(request);
    }
    return handler_(request);
  }
  std::vector<net::ClientRequest> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

  // A handler answering every request with `status` and `body`.
  static Handler Answer(int status, std::string body, net::Headers headers = {}) {
    return [=](const net::ClientRequest&) -> Result<net::ClientResponse> {
      net::ClientResponse r;
      r.status = status;
      r.body = body;
      r.headers = headers;
      return r;
    };
  }

 private:
  Handler handler_;
  mutable std::mutex mu_;
  std::vector<net::ClientRequest> seen_;
};

// A loopback port nothing listens on (bound, then closed).
inline uint16_t ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

using galley::testing::Eventually;

using galley::testing::EmulatorServer;

inline std::unique_ptr<EmulatorServer> StartMarathon(
    sandbox::marathon::MarathonOptions options = {}) {
  auto runner =
      sandbox::marathon::NewSimulatedRunner({milliseconds(10), milliseconds(20), milliseconds(10)});
  return std::make_unique<EmulatorServer>(
      sandbox::marathon::NewMarathonEmulator(options, std::move(runner)));
}

inline std::unique_ptr<EmulatorServer> StartConsul(std::string acl_master_token = "") {
  sandbox::consul::ConsulOptions o;
  o.acl_master_token = std::move(acl_master_token);
  o.check_workers = 1;
  return std::make_unique<EmulatorServer>(sandbox::consul::NewConsulEmulator(o));
}

}  // namespace galley::clients::testing
