// SPDX-License-Identifier: Apache-2.0
// The server parts over real sockets and tools: the Notifier posting to a loopback
// net::HttpServer through the real HttpClient (a 503 then success, the signature checked by
// the receiver with galley's own generic webhook verifier), the webhook handler mounted on a
// real server, and `promtool check metrics` on galley's exposition.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "base/digest.h"
#include "base/subprocess.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "server/metrics.h"
#include "server/notify.h"
#include "server/webhooks.h"
#include "support/fake_clock.h"
#include "support/wait.h"

namespace galley::server {
namespace {

const std::string kSecret = "loopback-secret-0123456789";

TEST(NotifyLoopbackTest, RetriedDeliveryArrivesSignedAtARealReceiver) {
  std::mutex mu;
  std::vector<std::string> bodies;
  std::vector<std::string> signatures;
  std::atomic<int> calls{0};
  auto server = net::HttpServer::Start({}, [&](const net::HttpRequest& r) {
    if (calls++ == 0) return net::HttpResponse::Text(503, "warming up\n");
    std::lock_guard<std::mutex> l(mu);
    bodies.push_back(r.body);
    signatures.push_back(r.Header("X-Galley-Signature"));
    return net::HttpResponse::Json(200, "{}");
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  std::string base = "http://127.0.0.1:" + std::to_string((*server)->port());

  testing::FakeClock clock;  // backoff waits pass at once
  auto client = net::NewHttpClient();
  NotifierOptions o;
  o.platform = "prod";
  o.clock = &clock;
  o.targets = {{NotifyTarget::Kind::kJson, base + "/galley-events", kSecret},
               {NotifyTarget::Kind::kSlack, base + "/slack", ""}};
  Notifier n(*client, o);
  NotifyState before, after;
  after.drift["marathon-app:/prod/web"] = "instances 3 → 5";
  after.leader = "node1:8480";
  n.Notify(DetectTransitions(
      before, after, std::chrono::system_clock::time_point(std::chrono::seconds(1714557600))));
  ASSERT_TRUE(galley::testing::Eventually([&] { return n.stats().sent == 4; }));
  n.Stop();
  EXPECT_EQ(calls.load(), 5);  // one 503, then four deliveries
  EXPECT_EQ(n.stats().retries, 1u);

  std::lock_guard<std::mutex> l(mu);
  int json_seen = 0;
  for (size_t i = 0; i < bodies.size(); ++i) {
    if (signatures[i].empty()) {
      EXPECT_TRUE(nlohmann::json::parse(bodies[i]).contains("text"));
      continue;
    }
    ++json_seen;
    // galley's own /hooks/generic scheme: the body signed with X-Galley-Signature.
    EXPECT_EQ(signatures[i], "sha256=" + HmacSha256Hex(kSecret, bodies[i]));
  }
  EXPECT_EQ(json_seen, 2);
}

TEST(NotifyLoopbackTest, UnreachableReceiverIsRetriedThenGivenUp) {
  // A port nothing listens on: start a server and stop it to free its port.
  auto server = net::HttpServer::Start(
      {}, [](const net::HttpRequest&) { return net::HttpResponse::Json(200, "{}"); });
  ASSERT_TRUE(server.ok());
  std::string url = "http://127.0.0.1:" + std::to_string((*server)->port()) + "/gone";
  (*server)->Stop();

  testing::FakeClock clock;
  auto client = net::NewHttpClient();
  std::vector<std::string> logs;
  std::mutex mu;
  NotifierOptions o;
  o.platform = "prod";
  o.clock = &clock;
  o.max_attempts = 3;
  o.targets = {{NotifyTarget::Kind::kJson, url, kSecret}};
  o.log = [&](const std::string& line) {
    std::lock_guard<std::mutex> l(mu);
    logs.push_back(line);
  };
  Notifier n(*client, o);
  n.Notify(NotifyEvent{NotifyKind::kApplyFailed, "marathon-app:/prod/web", "boom", {}});
  ASSERT_TRUE(galley::testing::Eventually([&] { return n.stats().failed == 1; }));
  n.Stop();
  EXPECT_EQ(n.stats().retries, 2u);
  std::lock_guard<std::mutex> l(mu);
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0].find(url), std::string::npos) << logs[0];
  EXPECT_NE(logs[0].find("notify: json#1: gave up on apply_failed"), std::string::npos) << logs[0];
}

TEST(WebhookLoopbackTest, HandlerOnARealServer) {
  Registry registry;
  ServeMetrics metrics(registry);
  std::mutex mu;
  std::vector<Trigger> triggers;
  WebhookOptions wo;
  wo.secret = kSecret;
  wo.branch = "main";
  WebhookHooks hooks;
  hooks.count = [&](std::string_view p, std::string_view r) { metrics.WebhookDelivery(p, r); };
  HttpHandler hook = WebhookHandler(
      Provider::kGitHub, wo,
      [&](const Trigger& t) {
        std::lock_guard<std::mutex> l(mu);
        triggers.push_back(t);
      },
      hooks);
  auto server = net::HttpServer::Start({}, [&](const net::HttpRequest& r) {
    if (r.path == "/hooks/github") return hook(r);
    if (r.path == "/metrics") return MetricsResponse(registry, r);
    return net::HttpResponse::Text(404, "not found\n");
  });
  ASSERT_TRUE(server.ok());
  std::string base = "http://127.0.0.1:" + std::to_string((*server)->port());
  auto client = net::NewHttpClient();

  std::string body =
      R"({"ref":"refs/heads/main","after":"9b4f1c2e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c","repository":{"full_name":"acme/platform"}})";
  net::ClientRequest req;
  req.method = "POST";
  req.url = base + "/hooks/github";
  req.body = body;
  req.headers["X-GitHub-Event"] = "push";
  req.headers["X-GitHub-Delivery"] = "delivery-1";
  req.headers["X-Hub-Signature-256"] = "sha256=" + HmacSha256Hex(kSecret, body);
  auto resp = client->Send(req);
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  EXPECT_EQ(resp->status, 202);
  resp = client->Send(req);
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 409);
  req.headers["X-Hub-Signature-256"] = "sha256=" + std::string(64, 'a');
  req.headers["X-GitHub-Delivery"] = "delivery-2";
  resp = client->Send(req);
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 401);

  net::ClientRequest get;
  get.url = base + "/metrics";
  resp = client->Send(get);
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->Header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(resp->body.find(
                "galley_webhook_deliveries_total{provider=\"github\",result=\"accepted\"} 1\n"),
            std::string::npos);
  EXPECT_NE(
      resp->body.find("galley_webhook_deliveries_total{provider=\"github\",result=\"replay\"} 1\n"),
      std::string::npos);
  EXPECT_NE(
      resp->body.find(
          "galley_webhook_deliveries_total{provider=\"github\",result=\"bad_signature\"} 1\n"),
      std::string::npos);
  (*server)->Stop();
  std::lock_guard<std::mutex> l(mu);
  ASSERT_EQ(triggers.size(), 1u);
  EXPECT_EQ(triggers[0].repository, "acme/platform");
}

TEST(PromtoolTest, ServeMetricsPassPromtoolCheckMetrics) {
  const char* promtool = "/usr/bin/promtool";
  if (access(promtool, X_OK) != 0) {
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus, ci/install-deps.sh); "
                    "the exposition format is not checked by promtool";
  }
  Registry r;
  ServeMetrics m(r);
  m.Reconcile(ServeMetrics::kResultApplied, std::chrono::milliseconds(1500));
  m.Reconcile(ServeMetrics::kResultFailed, std::chrono::seconds(700));
  m.SetDrift({{{"prod", "marathon-app"}, 2}, {{"staging \"eu\"\\x\ny", "consul-kv"}, 1}});
  m.ApplyAction("app-update", "succeeded");
  m.ApplyAction("kv-write", "failed");
  m.WebhookDelivery("github", "accepted");
  m.SetLeader(true);
  m.SetLastSuccess(std::chrono::system_clock::time_point(std::chrono::milliseconds(1714557600123)));
  m.SetFlapping(1);
  m.Notification("dropped", 3);
  std::string text = r.Expose();
  std::string path = ::testing::TempDir() + "/galley_metrics.prom";
  {
    std::ofstream f(path, std::ios::binary);
    f << text;
  }
  auto result = RunCommand({"/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", promtool, path});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->exit_code, 0) << result->out << result->err << "\n" << text;
  EXPECT_EQ(result->out + result->err, "") << text;  // no lint warnings either
}

}  // namespace
}  // namespace galley::server
