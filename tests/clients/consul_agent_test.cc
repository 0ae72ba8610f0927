// SPDX-License-Identifier: Apache-2.0
// ConsulAgentClient over a scripted transport: the request shapes (register body with the
// check, deregister path, token), the listing's parsing, and errors naming the endpoint.
#include "clients/consul_agent.h"

#include <deque>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace galley::clients {
namespace {

class Scripted : public net::HttpClient {
 public:
  Result<net::ClientResponse> Send(const net::ClientRequest& req) override {
    requests.push_back(req);
    if (answers.empty())
      return Status::Unavailable(req.method + " " + req.url + ": connection refused");
    auto a = answers.front();
    answers.pop_front();
    return a;
  }
  std::deque<Result<net::ClientResponse>> answers;
  std::vector<net::ClientRequest> requests;
};

net::ClientResponse Answer(int status, std::string body) {
  net::ClientResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

TEST(ConsulAgentClientTest, RegistersWithTheCheckAndToken) {
  Scripted http;
  http.answers.push_back(Answer(200, ""));
  ConsulEndpoint ep{"http://127.0.0.2:8500/", "secret", "", "test"};
  auto c = NewConsulAgentClient(ep, &http);
  AgentService s;
  s.id = "web.1-0";
  s.name = "test-server";
  s.tags = {"production", "internal-listen-http-3000"};
  s.address = "127.0.0.2";
  s.port = 31001;
  s.meta = {{"galley-task", "web.1"}, {"galley-node", "a"}};
  s.check = AgentCheck{AgentCheck::Kind::kHttp, "http://127.0.0.2:31001/healthcheck", 10, 5};
  ASSERT_TRUE(c->Register(s).ok());
  ASSERT_EQ(http.requests.size(), 1u);
  EXPECT_EQ(http.requests[0].method, "PUT");
  EXPECT_EQ(http.requests[0].url, "http://127.0.0.2:8500/v1/agent/service/register");
  EXPECT_EQ(http.requests[0].headers["X-Consul-Token"], "secret");
  EXPECT_EQ(http.requests[0].idempotent, std::optional<bool>(true));
  auto body = nlohmann::json::parse(http.requests[0].body);
  EXPECT_EQ(body, nlohmann::json::parse(R"({
    "ID": "web.1-0", "Name": "test-server", "Tags": ["production", "internal-listen-http-3000"],
    "Address": "127.0.0.2", "Port": 31001, "Meta": {"galley-node": "a", "galley-task": "web.1"},
    "Check": {"HTTP": "http://127.0.0.2:31001/healthcheck", "Interval": "10s", "Timeout": "5s"}})"));
  s.check = AgentCheck{AgentCheck::Kind::kTcp, "127.0.0.2:31001", 15, std::nullopt};
  EXPECT_EQ(nlohmann::json::parse(AgentRegisterBody(s))["Check"],
            nlohmann::json::parse(R"({"TCP": "127.0.0.2:31001", "Interval": "15s"})"));
}

TEST(ConsulAgentClientTest, ListsAndDeregisters) {
  Scripted http;
  http.answers.push_back(Answer(200, R"({
    "web.1-0": {"ID": "web.1-0", "Service": "test-server", "Tags": ["production"],
                "Meta": {"galley-task": "web.1", "galley-node": "a"}, "Port": 31001,
                "Address": "127.0.0.2", "Weights": {"Passing": 1, "Warning": 1}},
    "consul": {"ID": "consul", "Service": "consul", "Tags": null, "Meta": null, "Port": 8300,
               "Address": ""}})"));
  http.answers.push_back(Answer(200, ""));
  auto c = NewConsulAgentClient({"http://127.0.0.2:8500", "", "", ""}, &http);
  auto list = c->ListServices();
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "consul");
  EXPECT_TRUE((*list)[0].tags.empty());
  EXPECT_EQ((*list)[1].name, "test-server");
  EXPECT_EQ((*list)[1].port, 31001);
  EXPECT_EQ((*list)[1].meta.at("galley-task"), "web.1");
  ASSERT_TRUE(c->Deregister("web.1-0").ok());
  EXPECT_EQ(http.requests[1].method, "PUT");
  EXPECT_EQ(http.requests[1].url, "http://127.0.0.2:8500/v1/agent/service/deregister/web.1-0");
  EXPECT_EQ(http.requests[1].headers.count("X-Consul-Token"), 0u);
}

TEST(ConsulAgentClientTest, ErrorsNameTheEndpoint) {
  Scripted http;
  http.answers.push_back(Answer(403, "Permission denied"));
  http.answers.push_back(Answer(200, "<html>garbage"));
  http.answers.push_back(Answer(200, "[1,2]"));
  auto c = NewConsulAgentClient({"http://127.0.0.2:8500", "", "", ""}, &http);
  AgentService s;
  s.id = "x";
  s.name = "x";
  Status denied = c->Register(s);
  EXPECT_EQ(denied.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(),
            "consul-agent http://127.0.0.2:8500: PUT /v1/agent/service/register: 403 Forbidden: "
            "Permission denied");
  auto garbage = c->ListServices();
  EXPECT_EQ(garbage.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(garbage.status().message().rfind(
                "consul-agent http://127.0.0.2:8500: GET /v1/agent/services: invalid JSON in "
                "response",
                0),
            0u)
      << garbage.status().message();
  auto array = c->ListServices();
  EXPECT_EQ(array.status().message(),
            "consul-agent http://127.0.0.2:8500: GET /v1/agent/services: unexpected response: not "
            "a JSON object");
  Status refused = c->Deregister("x");
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable);
  EXPECT_EQ(refused.message(),
            "consul-agent http://127.0.0.2:8500: PUT /v1/agent/service/deregister/x: connection "
            "refused");
}

}  // namespace
}  // namespace galley::clients
