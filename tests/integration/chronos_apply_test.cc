// SPDX-License-Identifier: Apache-2.0
// The executor's Chronos steps through the real target (NewClientTarget over the HTTP
// ChronosClient) against the in-process Chronos emulator on loopback (simulated runs, real
// time, short retries): jobs created (parents first), updated and deleted with their tokens,
// a hand edit refused, and hook runs that succeed and fail.
#include <chrono>
#include <memory>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "clients/chronos_client.h"
#include "clients/consul_client.h"
#include "clients/marathon_client.h"
#include "engine/apply.h"
#include "engine/jobs.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "sandbox/chronos/chronos_emulator.h"
#include "sandbox/chronos/job_runner.h"
#include "store/state_store.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

json Scheduled(const std::string& name, const std::string& command) {
  return json{{"name", name},
              {"command", command},
              {"schedule", "R/2999-12-31T00:00:00.000Z/P1Y"},
              {"owner", "team@example.com"},
              {"description", "managed-by: galley"}};
}

Action Job(ActionKind kind, const json& body, const std::string& token) {
  Action a;
  a.kind = kind;
  a.env = "production";
  a.service = "web";
  a.target = body["name"];
  a.id = JobActionId(a.target);
  a.token = token;
  if (kind != ActionKind::kJobDelete) a.desired = body;
  return a;
}

Action Hook(const std::string& name, const std::string& hook) {
  Action a;
  a.kind = ActionKind::kHookRun;
  a.env = "production";
  a.service = "web";
  a.target = name;
  a.id = HookActionId(name);
  a.desired = json{{"hook", hook}, {"app", "/app/production/web"}};
  return a;
}

class ChronosApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sandbox::chronos::ChronosOptions o;
    o.tick = milliseconds(10);
    o.core.failure_retry_ms = 30;
    emulator_ = sandbox::chronos::NewChronosEmulator(
        o, sandbox::chronos::NewSimulatedJobRunner({milliseconds(5), milliseconds(40)}));
    auto s = net::HttpServer::Start(net::HttpServerOptions{}, [this](const net::HttpRequest& r) {
      return emulator_->Handle(r);
    });
    ASSERT_TRUE(s.ok());
    server_ = std::move(s).value();
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
    chronos_ = clients::NewChronosClient({url_, "", "", "test"}, http_.get());
    // Marathon and Consul are never called by job steps (no records in Consul here).
    marathon_ =
        clients::NewMarathonClient({{"http://127.0.0.1:9"}, "", "", "", "", "test"}, http_.get());
    consul_ = clients::NewConsulClient({"http://127.0.0.1:9", "", "", "test"}, http_.get());
    target_ = NewClientTarget(*marathon_, *consul_, chronos_.get());
    store_ = store::OpenSqliteStore(":memory:").value();
    records_.store = store_.get();
    records_.run_id = store_->BeginRun("apply", "cli", "c0ffee", "me@host").value();
    opts_.poll_interval = milliseconds(20);
    opts_.hook_deadline = std::chrono::seconds(20);
  }
  void TearDown() override {
    emulator_->Stop();
    server_->Stop();
  }
  ApplyResult Apply(std::vector<Action> actions) {
    Plan plan;
    plan.actions = std::move(actions);
    return ExecutePlan(plan, *target_, opts_, records_);
  }
  std::string Token(const std::string& name) {
    auto live = chronos_->GetJob(name);
    return live.ok() ? JobDigest(live->body) : "0";
  }
  const ActionOutcome& Outcome(const ApplyResult& r, const std::string& id) {
    for (const auto& o : r.outcomes) {
      if (o.action_id == id) return o;
    }
    ADD_FAILURE() << "no outcome for " << id;
    return r.outcomes.at(0);
  }

  std::unique_ptr<sandbox::chronos::ChronosEmulator> emulator_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> http_ = net::NewHttpClient();
  std::unique_ptr<clients::ChronosClient> chronos_;
  std::unique_ptr<clients::MarathonClient> marathon_;
  std::unique_ptr<clients::ConsulClient> consul_;
  std::unique_ptr<ApplyTarget> target_;
  std::unique_ptr<store::StateStore> store_;
  ApplyRecords records_;
  ApplyOptions opts_;
  std::string url_;
};

TEST_F(ChronosApplyTest, JobsAreCreatedUpdatedAndDeletedAndAHandEditIsRefused) {
  json report = Scheduled("production-web-report", "report --daily");
  json after = {{"name", "production-web-after"},
                {"command", "after"},
                {"parents", {"production-web-report"}}};
  Action create_report = Job(ActionKind::kJobCreate, report, "0");
  Action create_after = Job(ActionKind::kJobCreate, after, "0");
  create_after.depends_on = {create_report.id};
  ApplyResult r = Apply({create_report, create_after});
  ASSERT_TRUE(r.ok()) << r.Summary();
  auto jobs = chronos_->ListJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_TRUE((*jobs)[0].dependent);  // production-web-after
  EXPECT_EQ((*jobs)[0].parents, std::vector<std::string>{"production-web-report"});

  // An update planned against what is live.
  json changed = report;
  changed["command"] = "report --hourly";
  r = Apply({Job(ActionKind::kJobUpdate, changed, Token("production-web-report"))});
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(chronos_->GetJob("production-web-report")->body["command"], "report --hourly");

  // Planned, then edited by hand: refused, the hand edit stays.
  std::string planned_against = Token("production-web-report");
  json by_hand = changed;
  by_hand["command"] = "report --by-hand";
  ASSERT_TRUE(chronos_->PutJob(by_hand).ok());
  r = Apply({Job(ActionKind::kJobUpdate, report, planned_against)});
  ASSERT_EQ(r.failed, 1);
  EXPECT_NE(r.outcomes[0].detail.find("changed since the plan"), std::string::npos)
      << r.outcomes[0].detail;
  EXPECT_EQ(chronos_->GetJob("production-web-report")->body["command"], "report --by-hand");

  // Children are deleted first; a job already gone is no failure.
  Action del_after = Job(ActionKind::kJobDelete, after, Token("production-web-after"));
  Action del_report = Job(ActionKind::kJobDelete, report, Token("production-web-report"));
  del_report.depends_on = {del_after.id};
  r = Apply({del_after, del_report});
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_TRUE(chronos_->ListJobs()->empty());
  r = Apply({Job(ActionKind::kJobDelete, report, planned_against)});
  EXPECT_TRUE(r.ok()) << r.Summary();
  auto applied = store_->LastApplied().value();
  EXPECT_TRUE(applied.at("chronos-job:production-web-report").deleted);
}

TEST_F(ChronosApplyTest, AHookJobThatSucceedsAndOneThatFails) {
  json ok = Scheduled("production-web-migrate", "migrate");
  json bad = Scheduled("production-web-broken", "exit 1");
  Action write_ok = Job(ActionKind::kJobCreate, ok, "0");
  Action write_bad = Job(ActionKind::kJobCreate, bad, "0");
  Action run_ok = Hook("production-web-migrate", "pre-deploy");
  run_ok.depends_on = {write_ok.id};
  Action run_bad = Hook("production-web-broken", "pre-deploy");
  run_bad.depends_on = {write_bad.id};
  auto t0 = std::chrono::steady_clock::now();
  ApplyResult r = Apply({write_ok, write_bad, run_ok, run_bad});
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.applied, 3) << r.Summary();
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(Outcome(r, run_ok.id).state, StepState::kApplied);
  const std::string& why = Outcome(r, run_bad.id).detail;
  EXPECT_NE(why.find("pre-deploy job production-web-broken failed (error count 1, last error 20"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("Mesos sandbox of job production-web-broken's last run (Chronos " + url_),
            std::string::npos)
      << why;
  EXPECT_EQ(chronos_->GetJobStats("production-web-migrate")->success_count, 1);
  EXPECT_LT(took, 10.0);
  // A second run of the succeeding hook is told apart from the first.
  r = Apply({run_ok});
  EXPECT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(chronos_->GetJobStats("production-web-migrate")->success_count, 2);
}

}  // namespace
}  // namespace galley::engine
