// SPDX-License-Identifier: Apache-2.0
// The Marathon client against the Marathon emulator in-process (simulated tasks with short
// delays): listing with tasks and counts in one request, GetApp, versions, deployments,
// basic auth, failover, and faults injected in front of the emulator.
#include "clients/marathon_client.h"

#include <gtest/gtest.h>

#include "client_test_util.h"

namespace galley::clients {
namespace {

using testing::ClosedPort;
using testing::EmulatorServer;
using testing::Eventually;
using testing::Json;
using testing::milliseconds;
using testing::SleepApp;

class MarathonClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = testing::StartMarathon();
    client_ = NewMarathonClient(Endpoint(), http_.get(), Options());
  }
  MarathonEndpoint Endpoint() const {
    MarathonEndpoint e;
    e.urls = {server_->base()};
    return e;
  }
  static MarathonClientOptions Options(milliseconds timeout = milliseconds(5000)) {
    MarathonClientOptions o;
    o.timeout = timeout;
    return o;
  }
  void Create(const Json& app) {
    auto r = server_->Call("POST", "/v2/apps", app.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }
  // True once every listed app under `prefix` runs all its instances, healthy where it has
  // checks, with no deployment left.
  bool Settled(const std::string& prefix) {
    auto apps = client_->ListApps({prefix});
    if (!apps.ok()) return false;
    for (const auto& a : *apps) {
      bool checks = a.body.contains("healthChecks") && !a.body["healthChecks"].empty();
      if (a.tasks_running != a.instances || !a.deployment_ids.empty()) return false;
      if (checks && a.tasks_healthy != a.instances) return false;
    }
    return true;
  }

  std::unique_ptr<EmulatorServer> server_;
  std::unique_ptr<net::HttpClient> http_ = net::NewHttpClient();
  std::unique_ptr<MarathonClient> client_;
};

TEST_F(MarathonClientTest, ListAppsReturnsManagedAppsWithTasksAndCounts) {
  Create(SleepApp("/app/production/a", 2, /*health=*/true));
  Create(SleepApp("/app/production/b", 1));
  Create(SleepApp("/app/staging/c", 1));
  Create(SleepApp("/app/productionx/y", 1));
  Create(SleepApp("/other/x", 1));
  ASSERT_TRUE(Eventually([&] { return Settled("/"); }));

  auto apps = client_->ListApps({"/app/production/"});
  ASSERT_TRUE(apps.ok()) << apps.status().message();
  ASSERT_EQ(apps->size(), 2u);
  const model::LiveApp& a = (*apps)[0];
  const model::LiveApp& b = (*apps)[1];
  EXPECT_EQ(a.id, "/app/production/a");
  EXPECT_EQ(b.id, "/app/production/b");
  EXPECT_FALSE(a.version.empty());
  EXPECT_EQ(a.last_config_change_at, a.version);
  EXPECT_EQ(a.instances, 2);
  EXPECT_EQ(a.tasks_running, 2);
  EXPECT_EQ(a.tasks_healthy, 2);
  EXPECT_EQ(a.tasks_staged, 0);
  EXPECT_TRUE(a.deployment_ids.empty());
  ASSERT_EQ(a.tasks.size(), 2u);
  for (const auto& t : a.tasks) {
    EXPECT_TRUE(t.id.starts_with("app_production_a.")) << t.id;
    EXPECT_EQ(t.state, "TASK_RUNNING");
    EXPECT_EQ(t.version, a.version);
    EXPECT_FALSE(t.host.empty());
    EXPECT_EQ(t.ports.size(), 1u);
    EXPECT_TRUE(t.healthy);
  }
  EXPECT_EQ(b.tasks_running, 1);
  EXPECT_EQ(b.tasks_healthy, 0);  // no health checks: never counted healthy
  ASSERT_EQ(b.tasks.size(), 1u);
  EXPECT_FALSE(b.tasks[0].healthy);
  for (const char* k :
       {"tasks", "deployments", "tasksRunning", "tasksHealthy", "tasksStaged", "tasksUnhealthy"}) {
    EXPECT_FALSE(a.body.contains(k)) << k;
  }
  EXPECT_EQ(a.body["id"], "/app/production/a");
  EXPECT_EQ(a.body["cmd"], "sleep 1000");
  EXPECT_EQ(a.body["version"], a.version);

  auto under_app = client_->ListApps({"/app/production", "/app/staging/"});
  ASSERT_TRUE(under_app.ok());
  ASSERT_EQ(under_app->size(), 3u);  // not /app/productionx/y
  EXPECT_EQ((*under_app)[2].id, "/app/staging/c");
  EXPECT_EQ(client_->ListApps({"/app/"})->size(), 4u);
  EXPECT_EQ(client_->ListApps({"/"})->size(), 5u);
}

TEST_F(MarathonClientTest, OneRequestPerListRegardlessOfAppCount) {
  for (int i = 0; i < 3; ++i) Create(SleepApp("/app/production/s" + std::to_string(i), 1));
  int before = client_->requests();
  uint64_t served = server_->served();
  auto three = client_->ListApps({"/app/production/"});
  ASSERT_TRUE(three.ok()) << three.status().message();
  EXPECT_EQ(three->size(), 3u);
  EXPECT_EQ(client_->requests(), before + 1);
  EXPECT_EQ(server_->served(), served + 1);

  for (int i = 3; i < 30; ++i) Create(SleepApp("/app/production/s" + std::to_string(i), 1));
  ASSERT_TRUE(Eventually([&] { return Settled("/app/production/"); }));
  before = client_->requests();
  served = server_->served();
  auto thirty = client_->ListApps({"/app/production/"});
  ASSERT_TRUE(thirty.ok()) << thirty.status().message();
  EXPECT_EQ(thirty->size(), 30u);
  for (const auto& a : *thirty) EXPECT_EQ(a.tasks.size(), 1u) << a.id;
  EXPECT_EQ(client_->requests(), before + 1);
  EXPECT_EQ(server_->served(), served + 1);
}

TEST_F(MarathonClientTest, GetApp) {
  Create(SleepApp("/app/production/web", 1));
  ASSERT_TRUE(Eventually([&] { return Settled("/"); }));
  auto app = client_->GetApp("/app/production/web");
  ASSERT_TRUE(app.ok()) << app.status().message();
  EXPECT_EQ(app->id, "/app/production/web");
  EXPECT_EQ(app->tasks_running, 1);
  EXPECT_EQ(app->tasks.size(), 1u);
  EXPECT_FALSE(app->body.contains("tasks"));
  EXPECT_TRUE(client_->GetApp("app/production/web").ok());  // the leading slash is implied

  auto missing = client_->GetApp("/app/production/nope");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "marathon: app '/app/production/nope' does not exist");
}

TEST_F(MarathonClientTest, VersionsNewestFirst) {
  Create(SleepApp("/app/production/web", 1));
  auto put = server_->Call("PUT", "/v2/apps/app/production/web?force=true",
                           Json{{"cmd", "sleep 2000"}}.dump());
  ASSERT_EQ(put.status, 200) << put.body;
  auto app = client_->GetApp("/app/production/web");
  ASSERT_TRUE(app.ok());
  auto versions = client_->ListVersions("/app/production/web");
  ASSERT_TRUE(versions.ok()) << versions.status().message();
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0], app->version);
  EXPECT_GT((*versions)[0], (*versions)[1]);

  auto missing = client_->ListVersions("/app/production/nope");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "marathon: app '/app/production/nope' does not exist");
}

TEST_F(MarathonClientTest, DeploymentsDuringADeployment) {
  auto health = server_->Call("PUT", "/_sandbox/marathon/health",
                              Json{{"app", "/app/production/stuck"}, {"healthy", false}}.dump());
  ASSERT_EQ(health.status, 200) << health.body;
  Create(SleepApp("/app/production/stuck", 2, /*health=*/true));

  auto deps = client_->ListDeployments();
  ASSERT_TRUE(deps.ok()) << deps.status().message();
  ASSERT_EQ(deps->size(), 1u);
  const MarathonDeployment& d = (*deps)[0];
  EXPECT_FALSE(d.id.empty());
  EXPECT_EQ(d.affected_apps, std::vector<std::string>{"/app/production/stuck"});
  EXPECT_EQ(d.total_steps, 2);
  EXPECT_FALSE(d.version.empty());

  auto apps = client_->ListApps({"/app/production/"});
  ASSERT_TRUE(apps.ok());
  ASSERT_EQ(apps->size(), 1u);
  EXPECT_EQ((*apps)[0].deployment_ids, std::vector<std::string>{d.id});
  EXPECT_EQ((*apps)[0].tasks_healthy, 0);
}

TEST(MarathonClientAuth, BasicAuthAgainstTheEmulator) {
  sandbox::marathon::MarathonOptions options;
  options.http_credentials = "deploy:s3cret";
  auto server = testing::StartMarathon(options);
  auto http = net::NewHttpClient();
  MarathonEndpoint e;
  e.urls = {server->base()};
  auto anonymous = NewMarathonClient(e, http.get())->ListApps({"/"});
  EXPECT_EQ(anonymous.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(anonymous.status().message(),
            "marathon " + server->base() + ": GET /v2/apps: 401 Unauthorized");

  e.basic_user = "deploy";
  e.basic_password = "s3cret";
  auto ok = NewMarathonClient(e, http.get())->ListApps({"/"});
  EXPECT_TRUE(ok.ok()) << ok.status().message();
}

TEST_F(MarathonClientTest, FailoverToTheWorkingUrlAndRememberIt) {
  Create(SleepApp("/app/production/web", 1));
  std::string dead = "http://127.0.0.1:" + std::to_string(ClosedPort());
  MarathonEndpoint e;
  e.urls = {dead, server_->base()};
  auto client = NewMarathonClient(e, http_.get(), Options());
  auto first = client->ListApps({"/app/"});
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(first->size(), 1u);
  EXPECT_EQ(client->requests(), 2);  // the dead one, then the emulator
  ASSERT_TRUE(client->GetApp("/app/production/web").ok());
  EXPECT_EQ(client->requests(), 3);  // straight to the one that answered
  ASSERT_TRUE(client->ListApps({"/app/"}).ok());
  EXPECT_EQ(client->requests(), 4);

  // Both dead: kUnavailable naming both.
  e.urls = {dead, "http://127.0.0.1:" + std::to_string(ClosedPort())};
  auto none = NewMarathonClient(e, http_.get(), Options())->ListApps({"/"});
  EXPECT_EQ(none.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(none.status().message().starts_with("marathon: no URL answered: marathon " + dead +
                                                  ": GET /v2/apps: "))
      << none.status().message();
  EXPECT_NE(none.status().message().find("; marathon " + e.urls[1] + ": GET /v2/apps: "),
            std::string::npos);
}

TEST_F(MarathonClientTest, GatewayErrorsFailOverOtherHttpErrorsAreFinal) {
  MarathonEndpoint e;
  e.urls = {server_->base(), "http://localhost:" + std::to_string(server_->port())};
  auto client = NewMarathonClient(e, http_.get(), Options());
  // 503 from the first URL (no leader): the second answers.
  server_->Faults({{"fail_next", 1}, {"fail_status", 503}});
  auto r = client->ListApps({"/"});
  EXPECT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(client->requests(), 2);
  // Every URL 503: the last answer is reported with its status and message.
  server_->Faults({{"fail_next", 2}, {"fail_status", 503}});
  auto both = client->ListApps({"/"});
  EXPECT_EQ(both.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(both.status().message().find("503 Service Unavailable"), std::string::npos)
      << both.status().message();
  // 500 (or 4xx) is an answer about the request: final, no failover.
  int before = client->requests();
  server_->Faults({{"fail_next", 1}, {"fail_status", 500}});
  auto final_error = client->ListApps({"/"});
  EXPECT_EQ(final_error.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(client->requests(), before + 1);
}

TEST_F(MarathonClientTest, Faults) {
  const std::string ctx = "marathon " + server_->base() + ": GET /v2/apps: ";
  Create(SleepApp("/app/production/web", 1));

  server_->Faults({{"fail_next", 1}, {"fail_status", 503}, {"path_prefix", "/v2/apps"}});
  auto unavailable = client_->ListApps({"/"});
  EXPECT_EQ(unavailable.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(unavailable.status().message(),
            ctx + "503 Service Unavailable: injected fault: server error");

  server_->Faults({{"fail_next", 1}, {"fail_status", 403}, {"path_prefix", "/v2/apps"}});
  auto denied = client_->ListApps({"/"});
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.status().message(), ctx + "403 Forbidden: injected fault: server error");

  server_->Faults({{"garbage_next", 1}});
  auto garbage = client_->ListApps({"/"});
  EXPECT_EQ(garbage.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(
      garbage.status().message().starts_with(ctx +
                                             "invalid JSON in response (byte 1): parse error at "
                                             "line 1, column 1: syntax error while parsing value"))
      << garbage.status().message();

  server_->Faults({{"truncate_next", 1}});
  auto truncated = client_->ListApps({"/"});
  EXPECT_EQ(truncated.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(truncated.status().message().starts_with(ctx + "invalid JSON in response (byte "))
      << truncated.status().message();
  EXPECT_NE(truncated.status().message().find("parse error"), std::string::npos);

  // Two drops: a pooled connection's transparent retry in net/ is dropped as well.
  server_->Faults({{"drop_next", 2}});
  auto dropped = client_->ListApps({"/"});
  EXPECT_EQ(dropped.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(dropped.status().message().starts_with(ctx)) << dropped.status().message();
  server_->Faults({});

  server_->Faults({{"latency_ms", 600}});
  auto slow_client = NewMarathonClient(Endpoint(), http_.get(), Options(milliseconds(150)));
  auto slow = slow_client->ListApps({"/"});
  EXPECT_EQ(slow.status().code(), StatusCode::kTimeout);
  EXPECT_EQ(slow.status().message(), ctx + "no answer within 150 ms");
  server_->Faults({});

  auto fine = client_->ListApps({"/"});
  EXPECT_TRUE(fine.ok()) << fine.status().message();
}

}  // namespace
}  // namespace galley::clients
