// SPDX-License-Identifier: Apache-2.0
// The Marathon client's writes against the Marathon emulator in-process: create, full
// update, scale, delete, deployments that lock an app (simulated tasks whose health takes
// ten minutes keep a deployment running), cancel with rollback, old versions, failover of
// idempotent writes, a POST never repeated once it may have reached a server, the
// too-many-deployments limit, and Marathon's error bodies; a few answer shapes from a fake.
#include <set>

#include <gtest/gtest.h>

#include "client_test_util.h"
#include "clients/marathon_client.h"
#include "net/retrying_http_client.h"

namespace galley::clients {
namespace {

using testing::ClosedPort;
using testing::EmulatorServer;
using testing::Eventually;
using testing::FakeHttp;
using testing::Json;
using testing::milliseconds;
using testing::SleepApp;

// Forwards to a real client and records what was sent (method, URL, body, headers,
// idempotency) for assertions about the wire. Thread-safe.
class RecordingHttp : public net::HttpClient {
 public:
  explicit RecordingHttp(net::HttpClient* inner) : inner_(inner) {}
  Result<net::ClientResponse> Send(const net::ClientRequest& request) override {
    return SendDetailed(request, nullptr);
  }
  Result<net::ClientResponse> SendDetailed(const net::ClientRequest& request,
                                           net::SendFailure* failure) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(request);
    }
    return inner_->SendDetailed(request, failure);
  }
  std::vector<net::ClientRequest> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  net::ClientRequest last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_.empty() ? net::ClientRequest{} : seen_.back();
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.clear();
  }

 private:
  net::HttpClient* inner_;
  mutable std::mutex mu_;
  std::vector<net::ClientRequest> seen_;
};

std::unique_ptr<EmulatorServer> StartMarathonWithRunner(
    sandbox::marathon::SimulatedRunnerOptions runner_options,
    sandbox::marathon::MarathonOptions options = {}) {
  return std::make_unique<EmulatorServer>(sandbox::marathon::NewMarathonEmulator(
      options, sandbox::marathon::NewSimulatedRunner(runner_options)));
}

class MarathonWriteTest : public ::testing::Test {
 protected:
  void SetUp() override { Use(testing::StartMarathon()); }

  // Tasks start at once but turn healthy only after ten minutes: a deployment of an app with
  // health checks stays running for the whole test.
  void UseSlowHealth(int max_running_deployments = 100) {
    sandbox::marathon::MarathonOptions o;
    o.max_running_deployments = max_running_deployments;
    Use(StartMarathonWithRunner({milliseconds(10), milliseconds(600000), milliseconds(10)}, o));
  }
  void Use(std::unique_ptr<EmulatorServer> server) {
    client_.reset();
    server_ = std::move(server);
    client_ = Client({server_->base()});
  }
  std::unique_ptr<MarathonClient> Client(std::vector<std::string> urls,
                                         net::HttpClient* http = nullptr) {
    MarathonEndpoint e;
    e.urls = std::move(urls);
    MarathonClientOptions o;
    o.timeout = milliseconds(5000);
    return NewMarathonClient(e, http ? http : &recording_, o);
  }
  std::string Ctx(const std::string& method, const std::string& path) const {
    return "marathon " + server_->base() + ": " + method + " " + path + ": ";
  }
  // True once `id` has no deployment left.
  bool Idle(const std::string& id) {
    auto app = client_->GetApp(id);
    return app.ok() && app->deployment_ids.empty();
  }
  void CreateAndSettle(const Json& app) {
    auto r = client_->CreateApp(app, false);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_TRUE(Eventually([&] { return Idle(app["id"].get<std::string>()); }));
  }

  std::unique_ptr<net::HttpClient> http_ = net::NewHttpClient();
  RecordingHttp recording_{http_.get()};
  std::unique_ptr<EmulatorServer> server_;
  std::unique_ptr<MarathonClient> client_;
};

TEST_F(MarathonWriteTest, CreateAnswersItsDeploymentAndVersion) {
  UseSlowHealth();
  auto r = client_->CreateApp(SleepApp("/app/production/web", 1, /*health=*/true), false);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->deployment_id.size(), 36u) << r->deployment_id;  // a UUID
  EXPECT_FALSE(r->version.empty());

  net::ClientRequest post = recording_.last();
  EXPECT_EQ(post.method, "POST");
  EXPECT_EQ(post.url, server_->base() + "/v2/apps");
  EXPECT_EQ(post.headers["Content-Type"], "application/json");
  EXPECT_FALSE(net::IsIdempotent(post));
  EXPECT_EQ(Json::parse(post.body)["cmd"], "sleep 1000");

  auto app = client_->GetApp("/app/production/web");
  ASSERT_TRUE(app.ok()) << app.status().message();
  EXPECT_EQ(app->version, r->version);
  EXPECT_EQ(app->body["cmd"], "sleep 1000");
  EXPECT_EQ(app->deployment_ids, std::vector<std::string>{r->deployment_id});

  // Forced creation is a query parameter.
  ASSERT_TRUE(client_->CreateApp(SleepApp("/app/production/other", 1), true).ok());
  EXPECT_EQ(recording_.last().url, server_->base() + "/v2/apps?force=true");
}

TEST_F(MarathonWriteTest, CreateOfAnExistingAppIsAlreadyExists) {
  CreateAndSettle(SleepApp("/app/production/web", 1));
  auto again = client_->CreateApp(SleepApp("/app/production/web", 1), false);
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(again.status().message(),
            Ctx("POST", "/v2/apps") +
                "409 Conflict: An app with id [/app/production/web] already exists.");
}

TEST_F(MarathonWriteTest, FullUpdateRemovesWhatTheBodyOmits) {
  Json app = SleepApp("/app/production/web", 2);
  app["labels"] = {{"galley.managed", "true"}, {"team", "payments"}};
  app["env"] = {{"A", "1"}, {"B", "2"}};
  CreateAndSettle(app);

  Json updated = app;
  updated["labels"].erase("team");
  updated["env"].erase("B");
  auto r = client_->UpdateApp("/app/production/web", updated, false);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->deployment_id.empty());
  net::ClientRequest put = recording_.last();
  EXPECT_EQ(put.method, "PUT");
  EXPECT_EQ(put.url, server_->base() + "/v2/apps/app/production/web?partialUpdate=false");
  EXPECT_TRUE(net::IsIdempotent(put));

  auto live = client_->GetApp("/app/production/web");
  ASSERT_TRUE(live.ok()) << live.status().message();
  EXPECT_EQ(live->body["labels"], (Json{{"galley.managed", "true"}}));
  EXPECT_EQ(live->body["env"], (Json{{"A", "1"}}));
  EXPECT_EQ(live->instances, 2);
  EXPECT_EQ(live->version, r->version);

  ASSERT_TRUE(Eventually([&] { return Idle("/app/production/web"); }));
  ASSERT_TRUE(client_->UpdateApp("/app/production/web", updated, true).ok());
  EXPECT_EQ(recording_.last().url,
            server_->base() + "/v2/apps/app/production/web?partialUpdate=false&force=true");
}

TEST_F(MarathonWriteTest, ScaleChangesOnlyTheInstanceCount) {
  Json app = SleepApp("/app/production/web", 1);
  app["labels"] = {{"team", "payments"}};
  CreateAndSettle(app);

  auto r = client_->ScaleApp("app/production/web", 3, false);  // leading slash implied
  ASSERT_TRUE(r.ok()) << r.status().message();
  net::ClientRequest put = recording_.last();
  EXPECT_EQ(put.url, server_->base() + "/v2/apps/app/production/web");  // merge semantics
  EXPECT_EQ(put.body, R"({"instances":3})");
  EXPECT_TRUE(net::IsIdempotent(put));

  auto live = client_->GetApp("/app/production/web");
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->instances, 3);
  EXPECT_EQ(live->body["labels"], (Json{{"team", "payments"}}));
  EXPECT_EQ(live->body["cmd"], "sleep 1000");
  EXPECT_TRUE(Eventually([&] {
    auto a = client_->GetApp("/app/production/web");
    return a.ok() && a->tasks_running == 3;
  }));
}

TEST_F(MarathonWriteTest, DeleteThenTheAppIsGone) {
  CreateAndSettle(SleepApp("/app/production/web", 1));
  auto r = client_->DeleteApp("/app/production/web");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->deployment_id.empty());
  EXPECT_FALSE(r->version.empty());
  net::ClientRequest del = recording_.last();
  EXPECT_EQ(del.method, "DELETE");
  EXPECT_EQ(del.url, server_->base() + "/v2/apps/app/production/web?force=false");
  EXPECT_TRUE(net::IsIdempotent(del));

  auto gone = client_->GetApp("/app/production/web");
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  auto again = client_->DeleteApp("/app/production/web");
  EXPECT_EQ(again.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(again.status().message(), "marathon: app '/app/production/web' does not exist");

  auto no_id = client_->DeleteApp("/");
  EXPECT_EQ(no_id.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(no_id.status().message(), "marathon: an app id is needed");
}

TEST_F(MarathonWriteTest, RestartReplacesTheTasksAndKeepsTheDefinition) {
  Json app = SleepApp("/app/production/web", 2);
  app["labels"] = {{"team", "payments"}};
  CreateAndSettle(app);
  ASSERT_TRUE(Eventually([&] {
    auto a = client_->GetApp("/app/production/web");
    return a.ok() && a->tasks_running == 2;
  }));
  auto before = client_->GetApp("/app/production/web");
  ASSERT_TRUE(before.ok());
  std::set<std::string> old_tasks;
  for (const auto& t : before->tasks) old_tasks.insert(t.id);

  auto r = client_->RestartApp("app/production/web", false);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->deployment_id.empty());
  net::ClientRequest post = recording_.last();
  EXPECT_EQ(post.method, "POST");
  EXPECT_EQ(post.url, server_->base() + "/v2/apps/app/production/web/restart");
  EXPECT_FALSE(net::IsIdempotent(post));  // a repeated restart would replace the tasks twice

  ASSERT_TRUE(Eventually([&] {
    auto a = client_->GetApp("/app/production/web");
    if (!a.ok() || !a->deployment_ids.empty() || a->tasks_running != 2 || a->tasks.size() != 2)
      return false;
    for (const auto& t : a->tasks) {
      if (old_tasks.count(t.id)) return false;
    }
    return true;
  }));
  auto after = client_->GetApp("/app/production/web");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->version, r->version);
  EXPECT_NE(after->version, before->version);
  EXPECT_EQ(after->body["labels"], before->body["labels"]);
  EXPECT_EQ(after->body["cmd"], before->body["cmd"]);

  ASSERT_TRUE(client_->RestartApp("/app/production/web", true).ok());
  EXPECT_EQ(recording_.last().url,
            server_->base() + "/v2/apps/app/production/web/restart?force=true");
  auto missing = client_->RestartApp("/app/production/nope", false);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "marathon: app '/app/production/nope' does not exist");
}

TEST_F(MarathonWriteTest, LockedAppIsAConflictNamingTheDeploymentAndForceSupersedes) {
  UseSlowHealth();
  const std::string id = "/app/production/web";
  auto created = client_->CreateApp(SleepApp(id, 1, /*health=*/true), false);
  ASSERT_TRUE(created.ok()) << created.status().message();
  const std::string d1 = created->deployment_id;
  // Step 1 (StartApplication) ends at once; step 2 waits for health that never comes.
  ASSERT_TRUE(Eventually([&] {
    auto deps = client_->ListDeployments();
    return deps.ok() && deps->size() == 1 && (*deps)[0].current_step == 2;
  }));
  auto deps = client_->ListDeployments();
  ASSERT_TRUE(deps.ok());
  EXPECT_EQ((*deps)[0].id, d1);
  EXPECT_EQ((*deps)[0].current_actions, std::vector<std::string>{"ScaleApplication"});

  const std::string locked =
      "409 Conflict: App is locked by one or more deployments. Override with the option "
      "'?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'. (deployments: " +
      d1 + ")";
  Json changed = SleepApp(id, 1, /*health=*/true);
  changed["cmd"] = "sleep 2000";
  auto update = client_->UpdateApp(id, changed, false);
  EXPECT_EQ(update.status().code(), StatusCode::kConflict);
  EXPECT_EQ(update.status().message(), Ctx("PUT", "/v2/apps/app/production/web") + locked);
  auto scale = client_->ScaleApp(id, 2, false);
  EXPECT_EQ(scale.status().code(), StatusCode::kConflict);
  EXPECT_EQ(scale.status().message(), Ctx("PUT", "/v2/apps/app/production/web") + locked);
  // Marathon's default for DELETE /v2/apps/{id} is force=true, which would have cancelled the
  // deployment and deleted the app: galley's delete is refused instead.
  auto del = client_->DeleteApp(id);
  EXPECT_EQ(del.status().code(), StatusCode::kConflict);
  EXPECT_EQ(del.status().message(), Ctx("DELETE", "/v2/apps/app/production/web") + locked);
  EXPECT_TRUE(client_->GetApp(id).ok());

  auto forced = client_->UpdateApp(id, changed, true);
  ASSERT_TRUE(forced.ok()) << forced.status().message();
  EXPECT_NE(forced->deployment_id, d1);
  deps = client_->ListDeployments();
  ASSERT_TRUE(deps.ok());
  ASSERT_EQ(deps->size(), 1u);  // d1 was cancelled by the forced change
  EXPECT_EQ((*deps)[0].id, forced->deployment_id);
  EXPECT_EQ((*deps)[0].current_actions, std::vector<std::string>{"RestartApplication"});
  auto live = client_->GetApp(id);
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->body["cmd"], "sleep 2000");
  EXPECT_EQ(live->deployment_ids, std::vector<std::string>{forced->deployment_id});
}

TEST_F(MarathonWriteTest, CancelDeploymentRollsBack) {
  UseSlowHealth();
  const std::string id = "/app/production/web";
  CreateAndSettle(SleepApp(id, 1));  // no health checks: done once the task runs
  auto before = client_->GetApp(id);
  ASSERT_TRUE(before.ok());

  // New tasks must turn healthy before the old one goes: this deployment never finishes.
  Json changed = SleepApp(id, 1, /*health=*/true);
  changed["cmd"] = "sleep 2000";
  auto update = client_->UpdateApp(id, changed, false);
  ASSERT_TRUE(update.ok()) << update.status().message();
  EXPECT_EQ(client_->GetApp(id)->body["cmd"], "sleep 2000");

  auto rollback = client_->CancelDeployment(update->deployment_id);
  ASSERT_TRUE(rollback.ok()) << rollback.status().message();
  EXPECT_FALSE(rollback->deployment_id.empty());
  EXPECT_NE(rollback->deployment_id, update->deployment_id);
  EXPECT_GT(rollback->version, update->version);
  net::ClientRequest del = recording_.last();
  EXPECT_EQ(del.method, "DELETE");
  EXPECT_EQ(del.url, server_->base() + "/v2/deployments/" + update->deployment_id);  // no force

  auto after = client_->GetApp(id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->body["cmd"], "sleep 1000");
  EXPECT_TRUE(after->body.value("healthChecks", Json::array()).empty());
  EXPECT_EQ(after->version, rollback->version);
  EXPECT_TRUE(Eventually([&] { return Idle(id); }));

  auto finished = client_->CancelDeployment(update->deployment_id);
  EXPECT_EQ(finished.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(finished.status().message(),
            "marathon: deployment '" + update->deployment_id + "' does not exist");
  EXPECT_EQ(client_->CancelDeployment("").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(MarathonWriteTest, GetAppVersionReturnsTheOlderDefinition) {
  const std::string id = "/app/production/web";
  CreateAndSettle(SleepApp(id, 1));
  Json changed = SleepApp(id, 1);
  changed["cmd"] = "sleep 2000";
  ASSERT_TRUE(client_->UpdateApp(id, changed, false).ok());
  ASSERT_TRUE(Eventually([&] { return Idle(id); }));

  auto versions = client_->ListVersions(id);
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  auto old = client_->GetAppVersion(id, (*versions)[1]);
  ASSERT_TRUE(old.ok()) << old.status().message();
  EXPECT_EQ((*old)["id"], id);
  EXPECT_EQ((*old)["cmd"], "sleep 1000");
  EXPECT_EQ((*old)["version"], (*versions)[1]);
  EXPECT_FALSE(old->contains("tasks"));
  EXPECT_EQ(recording_.last().url,
            server_->base() + "/v2/apps/app/production/web/versions/" + (*versions)[1]);
  EXPECT_EQ(client_->GetAppVersion(id, (*versions)[0]).value()["cmd"], "sleep 2000");

  auto unknown = client_->GetAppVersion(id, "2001-01-01T00:00:00.000Z");
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message(),
            "marathon: app '/app/production/web' does not exist in version "
            "2001-01-01T00:00:00.000Z");
  auto missing = client_->GetAppVersion("/app/production/nope", (*versions)[1]);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "marathon: app '/app/production/nope' does not exist");

  // The old definition, read back with its "version", restores the app (the client drops
  // the read-only fields Marathon would take for a rollback request).
  auto restored = client_->UpdateApp(id, *old, false);
  ASSERT_TRUE(restored.ok()) << restored.status().message();
  EXPECT_FALSE(Json::parse(recording_.last().body).contains("version"));
  EXPECT_EQ(client_->GetApp(id)->body["cmd"], "sleep 1000");
  // {"version": ts} alone is Marathon's own rollback and is sent as it is.
  ASSERT_TRUE(Eventually([&] { return Idle(id); }));
  auto rollback = client_->UpdateApp(id, Json{{"version", (*versions)[0]}}, false);
  ASSERT_TRUE(rollback.ok()) << rollback.status().message();
  EXPECT_EQ(Json::parse(recording_.last().body), (Json{{"version", (*versions)[0]}}));
  EXPECT_EQ(client_->GetApp(id)->body["cmd"], "sleep 2000");
}

TEST_F(MarathonWriteTest, IdempotentWritesFailOverWhenTheFirstUrlAnswers503) {
  CreateAndSettle(SleepApp("/app/production/web", 1));
  const std::string second = "http://localhost:" + std::to_string(server_->port());
  auto client = Client({server_->base(), second});
  recording_.clear();
  server_->Faults({{"fail_next", 1}, {"fail_status", 503}, {"methods", Json::array({"PUT"})}});
  auto scaled = client->ScaleApp("/app/production/web", 2, false);
  ASSERT_TRUE(scaled.ok()) << scaled.status().message();
  EXPECT_EQ(client->requests(), 2);
  auto seen = recording_.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].url, server_->base() + "/v2/apps/app/production/web");
  EXPECT_EQ(seen[1].url, second + "/v2/apps/app/production/web");
  EXPECT_EQ(client_->GetApp("/app/production/web")->instances, 2);

  // The URL that answered is preferred from now on; a 503 there moves back to the first.
  ASSERT_TRUE(Eventually([&] { return Idle("/app/production/web"); }));
  recording_.clear();
  server_->Faults({{"fail_next", 1}, {"fail_status", 503}, {"methods", Json::array({"DELETE"})}});
  auto deleted = client->DeleteApp("/app/production/web");
  ASSERT_TRUE(deleted.ok()) << deleted.status().message();
  seen = recording_.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].url, second + "/v2/apps/app/production/web?force=false");
  EXPECT_EQ(seen[1].url, server_->base() + "/v2/apps/app/production/web?force=false");
  EXPECT_EQ(client_->GetApp("/app/production/web").status().code(), StatusCode::kNotFound);
}

TEST_F(MarathonWriteTest, PostIsNeverRepeatedOnceItMayHaveReachedAServer) {
  const std::string second = "http://localhost:" + std::to_string(server_->port());
  auto client = Client({server_->base(), second});

  // A 503 is an answer: the request reached a server, which may act on it later (a proxy
  // that timed out on a busy leader). Final, even with another URL left.
  server_->Faults({{"fail_next", 1}, {"fail_status", 503}, {"methods", Json::array({"POST"})}});
  auto answered = client->CreateApp(SleepApp("/app/production/web", 1), false);
  EXPECT_EQ(answered.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(answered.status().message(),
            Ctx("POST", "/v2/apps") + "503 Service Unavailable: injected fault: server error");
  EXPECT_EQ(client->requests(), 1);
  EXPECT_EQ(client_->GetApp("/app/production/web").status().code(), StatusCode::kNotFound);

  // Dropped after it was sent: the same. (Two drops: a pooled connection's transparent
  // retry in net/ is dropped as well.)
  server_->Faults({{"drop_next", 2}, {"methods", Json::array({"POST"})}});
  auto dropped = client->CreateApp(SleepApp("/app/production/web", 1), false);
  EXPECT_EQ(dropped.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(dropped.status().message().starts_with(Ctx("POST", "/v2/apps")))
      << dropped.status().message();
  EXPECT_EQ(client->requests(), 2);
  server_->Faults({});
  EXPECT_EQ(client_->GetApp("/app/production/web").status().code(), StatusCode::kNotFound);

  // Refused: nothing reached the first URL, so the second gets it.
  const std::string dead = "http://127.0.0.1:" + std::to_string(ClosedPort());
  auto failover = Client({dead, server_->base()});
  auto created = failover->CreateApp(SleepApp("/app/production/web", 1), false);
  ASSERT_TRUE(created.ok()) << created.status().message();
  EXPECT_EQ(failover->requests(), 2);
  EXPECT_TRUE(client_->GetApp("/app/production/web").ok());
}

TEST_F(MarathonWriteTest, ARetryingTransportRepeatsPutButNotPost) {
  net::RetryPolicy policy;
  policy.max_attempts = 3;
  policy.initial_backoff = milliseconds(1);
  policy.jitter = false;
  auto retrying = net::NewRetryingHttpClient(&recording_, policy);
  auto client = Client({server_->base()}, retrying.get());

  server_->Faults({{"fail_next", 1}, {"fail_status", 503}, {"methods", Json::array({"POST"})}});
  auto post = client->CreateApp(SleepApp("/app/production/web", 1), false);
  EXPECT_EQ(post.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(recording_.seen().size(), 1u);

  ASSERT_TRUE(client->CreateApp(SleepApp("/app/production/web", 1), false).ok());
  ASSERT_TRUE(Eventually([&] { return Idle("/app/production/web"); }));
  recording_.clear();
  const int before = client->requests();
  server_->Faults({{"fail_next", 1}, {"fail_status", 503}, {"methods", Json::array({"PUT"})}});
  auto put = client->ScaleApp("/app/production/web", 2, false);
  ASSERT_TRUE(put.ok()) << put.status().message();
  EXPECT_EQ(recording_.seen().size(), 2u);    // repeated by the transport
  EXPECT_EQ(client->requests(), before + 1);  // one attempt as far as the client knows
}

TEST_F(MarathonWriteTest, TooManyDeploymentsIsResourceExhausted) {
  UseSlowHealth(/*max_running_deployments=*/1);
  ASSERT_TRUE(client_->CreateApp(SleepApp("/app/production/a", 1, /*health=*/true), false).ok());
  auto second = client_->CreateApp(SleepApp("/app/production/b", 1), false);
  EXPECT_EQ(second.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(second.status().message(),
            Ctx("POST", "/v2/apps") +
                "403 Forbidden: Max number (1) of running deployments is achieved. Wait for "
                "existing deployments to complete before starting new ones.");
  EXPECT_EQ(client_->GetApp("/app/production/b").status().code(), StatusCode::kNotFound);
}

TEST_F(MarathonWriteTest, InvalidDefinitionsNameMarathonsDetails) {
  Json bad = SleepApp("/app/production/web", 1);
  bad["upgradeStrategy"] = {{"minimumHealthCapacity", 2}, {"maximumOverCapacity", 1}};
  auto invalid = client_->CreateApp(bad, false);
  EXPECT_EQ(invalid.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(invalid.status().message(),
            Ctx("POST", "/v2/apps") +
                "422 Unprocessable Entity: Object is not valid: "
                "/upgradeStrategy/minimumHealthCapacity: is greater than 1");

  Json wrong_type = SleepApp("/app/production/web", 1);
  wrong_type["instances"] = "two";
  auto typed = client_->CreateApp(wrong_type, false);
  EXPECT_EQ(typed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(typed.status().message(), Ctx("POST", "/v2/apps") +
                                          "422 Unprocessable Entity: Invalid JSON: /instances: "
                                          "error.expected.jsnumber");

  Json not_utf8 = SleepApp("/app/production/web", 1);
  not_utf8["cmd"] = std::string("sleep \xFF");
  auto unsendable = client_->CreateApp(not_utf8, false);
  EXPECT_EQ(unsendable.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      unsendable.status().message().starts_with("marathon: the app definition cannot be sent: "))
      << unsendable.status().message();
}

// Answer shapes a real Marathon sends that the emulator does not produce (or not on demand).
TEST(MarathonWriteAnswers, DeploymentResultsAndErrorBodiesFromAFake) {
  net::Headers with_header;
  with_header["Marathon-Deployment-Id"] = "d-header";
  MarathonEndpoint e;
  e.urls = {"http://m1:8080"};
  e.token = "abc";

  {  // POST 201: the created app; the header names the deployment.
    FakeHttp fake(FakeHttp::Answer(
        201, R"({"id":"/x","version":"2024-01-01T00:00:00.000Z","deployments":[{"id":"d-body"}]})",
        with_header));
    auto r = NewMarathonClient(e, &fake)->CreateApp(SleepApp("/x", 1), false);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->deployment_id, "d-header");
    EXPECT_EQ(r->version, "2024-01-01T00:00:00.000Z");
    EXPECT_EQ(fake.seen()[0].headers.at("Authorization"), "token=abc");
  }
  {  // Without the header: deployments[0].id.
    FakeHttp fake(FakeHttp::Answer(
        201,
        R"({"id":"/x","version":"2024-01-01T00:00:00.000Z","deployments":[{"id":"d-body"}]})"));
    auto r = NewMarathonClient(e, &fake)->CreateApp(SleepApp("/x", 1), false);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->deployment_id, "d-body");
  }
  {  // A DeploymentResult.
    FakeHttp fake(
        FakeHttp::Answer(200, R"({"deploymentId":"d-1","version":"2024-01-01T00:00:01.000Z"})"));
    auto r = NewMarathonClient(e, &fake)->ScaleApp("/x", 2, true);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->deployment_id, "d-1");
    EXPECT_EQ(r->version, "2024-01-01T00:00:01.000Z");
    EXPECT_EQ(fake.seen()[0].url, "http://m1:8080/v2/apps/x?force=true");
  }
  {  // No version: not a DeploymentResult.
    FakeHttp fake(FakeHttp::Answer(200, R"({"deploymentId":"d-1"})"));
    auto r = NewMarathonClient(e, &fake)->UpdateApp("/x", SleepApp("/x", 1), false);
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
    EXPECT_EQ(r.status().message(),
              "marathon http://m1:8080: PUT /v2/apps/x: unexpected response: no \"version\"");
  }
  {  // 429 with the limit's message; a plain 403 stays a permission problem.
    FakeHttp fake(FakeHttp::Answer(
        429, R"({"message":"Max number (100) of running deployments is achieved."})"));
    auto r = NewMarathonClient(e, &fake)->DeleteApp("/x");
    EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
    EXPECT_EQ(r.status().message(),
              "marathon http://m1:8080: DELETE /v2/apps/x: 429 Too Many Requests: Max number "
              "(100) of running deployments is achieved.");
    FakeHttp denied(
        FakeHttp::Answer(403, R"({"message":"Not Authorized to perform this action!"})"));
    EXPECT_EQ(NewMarathonClient(e, &denied)->DeleteApp("/x").status().code(),
              StatusCode::kPermissionDenied);
  }
  {  // 400 with `details` as a string (broken JSON), 422 with many details (cut short).
    FakeHttp fake(FakeHttp::Answer(
        400,
        R"({"message":"Invalid JSON","details":"Unexpected end-of-input: expected close marker"})"));
    auto r = NewMarathonClient(e, &fake)->CreateApp(SleepApp("/x", 1), false);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(),
              "marathon http://m1:8080: POST /v2/apps: 400 Bad Request: Invalid JSON: "
              "Unexpected end-of-input: expected close marker");
    Json many = {{"message", "Object is not valid"}, {"details", Json::array()}};
    for (int i = 0; i < 7; ++i) {
      many["details"].push_back(
          {{"path", "/env/K" + std::to_string(i)}, {"errors", Json::array({"bad", "worse"})}});
    }
    FakeHttp fake422(FakeHttp::Answer(422, many.dump()));
    auto r422 = NewMarathonClient(e, &fake422)->UpdateApp("/x", SleepApp("/x", 1), false);
    EXPECT_EQ(r422.status().message(),
              "marathon http://m1:8080: PUT /v2/apps/x: 422 Unprocessable Entity: Object is not "
              "valid: /env/K0: bad, worse; /env/K1: bad, worse; /env/K2: bad, worse; /env/K3: "
              "bad, worse; /env/K4: bad, worse; and 2 more");
  }
}

TEST(MarathonWriteAnswers, TransportFailuresAfterSendingEndAPostButNotAPut) {
  // FakeHttp cannot say how far a request got, so every failure may have reached the server.
  FakeHttp fake([](const net::ClientRequest& r) -> Result<net::ClientResponse> {
    return Status::Unavailable(r.method + " " + r.url + ": connection reset by peer");
  });
  MarathonEndpoint e;
  e.urls = {"http://m1:8080", "http://m2:8080"};
  auto client = NewMarathonClient(e, &fake);
  auto post = client->CreateApp(SleepApp("/x", 1), false);
  EXPECT_EQ(post.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(post.status().message(),
            "marathon http://m1:8080: POST /v2/apps: connection reset by peer");
  EXPECT_EQ(fake.seen().size(), 1u);

  auto put = client->ScaleApp("/x", 2, false);
  EXPECT_EQ(put.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(put.status().message(),
            "marathon: no URL answered: marathon http://m1:8080: PUT /v2/apps/x: connection reset "
            "by peer; marathon http://m2:8080: PUT /v2/apps/x: connection reset by peer");
  EXPECT_EQ(fake.seen().size(), 3u);
}

}  // namespace
}  // namespace galley::clients
