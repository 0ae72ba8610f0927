// SPDX-License-Identifier: Apache-2.0
// Chronos jobs through the real emulator over loopback (issue #16): every job of the
// reference example rendered, put through ChronosClient::PutJob (parents first), observed in
// one request and planned again: no changes (the round trip). A job edited by hand is then
// planned as drift and reported by the drift finder; Chronos down is a clear error.
#include <chrono>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "clients/chronos_client.h"
#include "engine/drift.h"
#include "engine/jobs.h"
#include "engine/observer.h"
#include "engine/planner.h"
#include "net/http_server.h"
#include "render/chronos_job.h"
#include "sandbox/chronos/chronos_emulator.h"
#include "sandbox/chronos/job_runner.h"
#include "spec/loader.h"
#include "support/temp_repo.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

class JobPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sandbox::chronos::ChronosOptions o;
    o.tick = milliseconds(10);
    emulator_ = sandbox::chronos::NewChronosEmulator(
        o, sandbox::chronos::NewSimulatedJobRunner({milliseconds(5), milliseconds(30)}));
    auto s = net::HttpServer::Start(net::HttpServerOptions{}, [this](const net::HttpRequest& r) {
      return emulator_->Handle(r);
    });
    ASSERT_TRUE(s.ok());
    server_ = std::move(s).value();
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
    client_ = clients::NewChronosClient({url_, "", "", "test"}, http_.get());
    loaded_ = spec::LoadRepository(testing::SourceRoot() + "/examples/reference");
    ASSERT_FALSE(loaded_.diags.HasErrors()) << loaded_.diags.RenderAll();
  }
  void TearDown() override {
    emulator_->Stop();
    server_->Stop();
  }

  // The planner's input with only jobs: every environment, Chronos observed now.
  PlanInput Input() {
    PlanInput in;
    in.platform = loaded_.state.platform.name;
    for (const auto& e : loaded_.state.platform.environments) in.environments.push_back(e.name);
    for (const auto& s : loaded_.state.services) in.declared_services.insert(s.name);
    in.chronos = true;
    in.jobs = DesiredJobs(loaded_.state);
    Status observed = ObserveJobs(*client_, &in.live);
    EXPECT_TRUE(observed.ok()) << observed.message();
    in.applied_jobs = applied_;
    return in;
  }

  // Applies the plan's job writes as the executor will: parents first (the plan's order).
  void PutPlannedJobs(const Plan& p) {
    for (const auto& a : p.actions) {
      if (a.kind != ActionKind::kJobCreate && a.kind != ActionKind::kJobUpdate) continue;
      Status put = client_->PutJob(a.desired);
      ASSERT_TRUE(put.ok()) << a.id << ": " << put.message();
      applied_[a.target] = a.record;
    }
  }

  spec::LoadResult loaded_;
  std::unique_ptr<sandbox::chronos::ChronosEmulator> emulator_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> http_ = net::NewHttpClient();
  std::unique_ptr<clients::ChronosClient> client_;
  std::string url_;
  std::map<std::string, json> applied_;
};

TEST_F(JobPlanTest, RenderedJobsRoundTripToNoChanges) {
  PlanInput first = Input();
  EXPECT_EQ(first.live.requests, 1);  // one list request
  Plan p = MakePlan(first);
  ASSERT_TRUE(p.errors.empty());
  size_t declared = first.jobs.size();
  ASSERT_GE(declared, 4u);
  EXPECT_EQ(p.actions.size(), declared);
  for (const auto& a : p.actions) EXPECT_EQ(a.kind, ActionKind::kJobCreate) << a.id;
  PutPlannedJobs(p);

  PlanInput again = Input();
  EXPECT_EQ(again.live.jobs.size(), declared);
  Plan none = MakePlan(again);
  EXPECT_TRUE(none.actions.empty()) << PlanToJson(none).dump(2);
  EXPECT_TRUE(none.unmanaged.empty());
  EXPECT_EQ(none.observed_jobs, static_cast<int>(declared));
  EXPECT_TRUE(FindDrift(again).drift.empty());
}

TEST_F(JobPlanTest, AHandEditedJobIsDriftAndReverted) {
  PutPlannedJobs(MakePlan(Input()));
  const std::string name = Input().jobs.front().name;
  auto live = client_->GetJob(name);
  ASSERT_TRUE(live.ok()) << live.status().message();
  json edited = clients::ChronosRequestBody(live->body);
  edited["retries"] = 7;
  edited["disabled"] = true;
  ASSERT_TRUE(client_->PutJob(edited).ok());

  PlanInput in = Input();
  DriftReport r = FindDrift(in);
  ASSERT_EQ(r.drift.size(), 1u);
  EXPECT_EQ(r.drift[0].resource, "chronos-job:" + name);
  EXPECT_EQ(r.drift[0].change, "disabled");
  std::vector<std::string> fields;
  for (const auto& f : r.drift[0].fields) fields.push_back(f.pointer);
  EXPECT_EQ(fields, (std::vector<std::string>{"/disabled", "/retries"}));

  Plan p = MakePlan(in);
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, ActionKind::kJobUpdate);
  EXPECT_EQ(p.actions[0].reason, Reason::kDrifted);
  EXPECT_EQ(p.actions[0].token, JobDigest(edited));
  // Reverting (what apply sends) brings it back: no changes.
  PutPlannedJobs(p);
  EXPECT_TRUE(MakePlan(Input()).actions.empty());
}

TEST_F(JobPlanTest, ChronosDownIsAnErrorNamingIt) {
  server_->Stop();
  model::LiveState live;
  Status s = ObserveJobs(*client_, &live);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(url_), std::string::npos) << s.message();
  EXPECT_FALSE(live.jobs_observed);
}

}  // namespace
}  // namespace galley::engine
