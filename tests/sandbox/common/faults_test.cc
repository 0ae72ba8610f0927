// SPDX-License-Identifier: Apache-2.0
// FaultInjector through a real server and client: every fault kind, the filters, and the
// admin endpoint.
#include "sandbox/common/faults.h"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "net/http_client.h"
#include "net/http_server.h"

namespace galley::sandbox {
namespace {

class FaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = net::HttpServer::Start(net::HttpServerOptions{}, [this](const net::HttpRequest& r) {
      return faults_.Handle(r, [](const net::HttpRequest& q) {
        return net::HttpResponse::Json(200, R"({"path":")" + q.path + R"(","ok":true})");
      });
    });
    ASSERT_TRUE(s.ok());
    server_ = std::move(s).value();
  }
  net::ClientResponse Call(const std::string& method, const std::string& path,
                           const std::string& body = "") {
    net::ClientRequest req{method, "http://127.0.0.1:" + std::to_string(server_->port()) + path};
    req.body = body;
    auto r = client_->Send(req);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : net::ClientResponse{};
  }
  Result<net::ClientResponse> Try(const std::string& path) {
    return client_->Send({"GET", "http://127.0.0.1:" + std::to_string(server_->port()) + path});
  }

  FaultInjector faults_{R"({"message":"locked"})"};
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> client_ = net::NewHttpClient();
};

TEST_F(FaultsTest, PassesThroughWithoutAPlan) {
  EXPECT_EQ(Call("GET", "/v2/apps").status, 200);
  auto plan = nlohmann::json::parse(Call("GET", "/_sandbox/faults").body);
  EXPECT_EQ(plan["fail_next"], 0);
  EXPECT_EQ(plan["injected"], 0);
}

TEST_F(FaultsTest, FailsTheNextNCallsThenRecovers) {
  EXPECT_EQ(Call("PUT", "/_sandbox/faults", R"({"fail_next": 2, "fail_status": 503})").status, 200);
  EXPECT_EQ(Call("GET", "/a").status, 503);
  EXPECT_EQ(Call("GET", "/a").status, 503);
  EXPECT_EQ(Call("GET", "/a").status, 200);
  EXPECT_EQ(nlohmann::json::parse(Call("GET", "/_sandbox/faults").body)["injected"], 2);
}

// A 204 or 304 fault used to throw from Beast's prepare_payload outside the handler's try
// and abort the whole process.
TEST_F(FaultsTest, BodilessFailStatusesAreInjectedWithoutTheirBody) {
  for (int status : {204, 304}) {
    EXPECT_EQ(Call("PUT", "/_sandbox/faults",
                   R"({"fail_next": 1, "fail_status": )" + std::to_string(status) + "}")
                  .status,
              200);
    auto r = Call("GET", "/v2/apps");
    EXPECT_EQ(r.status, status);
    EXPECT_EQ(r.body, "");
  }
  EXPECT_EQ(Call("GET", "/v2/apps").status, 200);
  auto one_xx = Call("PUT", "/_sandbox/faults", R"({"fail_next": 1, "fail_status": 100})");
  EXPECT_EQ(one_xx.status, 400);
  EXPECT_NE(one_xx.body.find("200..599"), std::string::npos);
}

TEST_F(FaultsTest, StopCutsInjectedLatencyShort) {
  Call("PUT", "/_sandbox/faults", R"({"latency_ms": 600000})");
  auto start = std::chrono::steady_clock::now();
  std::thread stopper([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    faults_.Stop();
  });
  net::ClientRequest req{"GET", "http://127.0.0.1:" + std::to_string(server_->port()) + "/x"};
  req.timeout = std::chrono::seconds(20);
  auto r = client_->Send(req);
  stopper.join();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(FaultsTest, FiltersByPathPrefixAndMethod) {
  Call("PUT", "/_sandbox/faults",
       R"({"fail_next": 1, "path_prefix": "/v2/apps", "methods": ["PUT"]})");
  EXPECT_EQ(Call("GET", "/v2/apps").status, 200);
  EXPECT_EQ(Call("PUT", "/v1/kv/x").status, 200);
  EXPECT_EQ(Call("PUT", "/v2/apps/x").status, 500);
  EXPECT_EQ(Call("PUT", "/v2/apps/x").status, 200);
}

TEST_F(FaultsTest, FiltersByABodySubstring) {
  Call("PUT", "/_sandbox/faults",
       R"({"fail_next": 1, "path_prefix": "/v1/txn", "body_contains": "\"Key\":\"app/"})");
  EXPECT_EQ(Call("GET", "/_sandbox/faults").body.find(R"("body_contains":"\"Key\":\"app/")") !=
                std::string::npos,
            true);
  EXPECT_EQ(Call("PUT", "/v1/txn", R"([{"KV":{"Verb":"set","Key":"galley/lb/internal"}}])").status,
            200);
  EXPECT_EQ(Call("PUT", "/v1/txn", R"([{"KV":{"Verb":"set","Key":"app/staging/x"}}])").status, 500);
  EXPECT_EQ(Call("PUT", "/v1/txn", R"([{"KV":{"Verb":"set","Key":"app/staging/x"}}])").status, 200);
}

TEST_F(FaultsTest, DropsGarblesTruncatesAndConflicts) {
  // Two drops: galley's client retries a dropped pooled connection once, transparently.
  Call("PUT", "/_sandbox/faults", R"({"drop_next": 2})");
  auto dropped = Try("/x");
  ASSERT_FALSE(dropped.ok());
  EXPECT_EQ(dropped.status().code(), StatusCode::kUnavailable);

  Call("PUT", "/_sandbox/faults", R"({"garbage_next": 1})");
  auto garbage = Call("GET", "/x");
  EXPECT_EQ(garbage.status, 200);
  EXPECT_TRUE(nlohmann::json::parse(garbage.body, nullptr, false).is_discarded());

  Call("PUT", "/_sandbox/faults", R"({"truncate_next": 1})");
  auto cut = Call("GET", "/x");
  EXPECT_EQ(cut.body, std::string(R"({"path":"/x","ok":true})").substr(0, 11));
  EXPECT_TRUE(nlohmann::json::parse(cut.body, nullptr, false).is_discarded());

  Call("PUT", "/_sandbox/faults", R"({"conflict_next": 2})");
  EXPECT_EQ(Call("PUT", "/x").body, R"({"message":"locked"})");
  EXPECT_EQ(Call("PUT", "/x").status, 409);
  EXPECT_EQ(Call("PUT", "/x").status, 200);
}

TEST_F(FaultsTest, AddsLatencyUntilCleared) {
  Call("PUT", "/_sandbox/faults", R"({"latency_ms": 150})");
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Call("GET", "/x").status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(140));
  EXPECT_EQ(Call("DELETE", "/_sandbox/faults").status, 200);
  start = std::chrono::steady_clock::now();
  Call("GET", "/x");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(140));
}

TEST_F(FaultsTest, RejectsBadPlansAndLeavesTheOldOne) {
  Call("PUT", "/_sandbox/faults", R"({"fail_next": 1})");
  EXPECT_EQ(Call("PUT", "/_sandbox/faults", "not json").status, 400);
  auto unknown = Call("PUT", "/_sandbox/faults", R"({"fial_next": 1})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("unknown fault field 'fial_next'"), std::string::npos);
  EXPECT_EQ(Call("PUT", "/_sandbox/faults", R"({"fail_status": 42})").status, 400);
  EXPECT_EQ(Call("PUT", "/_sandbox/faults", R"({"fail_next": "x"})").status, 400);
  EXPECT_EQ(Call("POST", "/_sandbox/faults/x").status, 200);  // not the admin path: passes through
  EXPECT_EQ(Call("GET", "/x").status, 500);                   // the earlier plan still holds
}

}  // namespace
}  // namespace galley::sandbox
