// SPDX-License-Identifier: Apache-2.0
// The pure parts of `galley status`, failed-deploy holding and `galley restart`: status rows
// and states from (desired, live, applied, plan), matching a plan's actions with the
// journal's failed deploys (identical change held, changed desired state not), and the
// restart plan.
#include "engine/status.h"

#include <gtest/gtest.h>

#include "base/digest.h"
#include "engine/failed_deploys.h"
#include "engine/normalize.h"
#include "engine/restart.h"
#include "engine/view_text.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

json App(const std::string& id, int instances, const std::string& tag) {
  return json{{"id", id},
              {"instances", instances},
              {"cpus", 0.1},
              {"mem", 64.0},
              {"healthChecks", {{{"protocol", "MESOS_HTTP"}, {"path", "/health"}}}},
              {"upgradeStrategy", {{"minimumHealthCapacity", 0.5}, {"maximumOverCapacity", 0.5}}},
              {"labels", {{"version", tag}, {"galley.platform", "p"}}},
              {"container",
               {{"type", "DOCKER"}, {"docker", {{"image", "registry.local:5000/web:" + tag}}}}}};
}

model::LiveApp Live(const json& body, int healthy, const std::string& version = "v-live") {
  model::LiveApp a;
  a.id = body["id"];
  a.body = body;
  a.version = version;
  a.instances = body.value("instances", 1);
  a.tasks_running = a.instances;
  a.tasks_healthy = healthy;
  return a;
}

class StatusTest : public ::testing::Test {
 protected:
  StatusTest() {
    in_.platform = "p";
    in_.environments = {"production", "staging"};
    in_.app_prefixes = {"/app/production/", "/app/staging/"};
    in_.kv_prefixes = {"app/production/", "app/staging/"};
    in_.declared_services = {"web", "api"};
    in_.hmac_key = "k";
  }
  void Want(const std::string& service, const std::string& env, const json& body,
            bool paused = false) {
    in_.apps.push_back(DesiredApp{service, env, body["id"], body, {}, paused});
  }
  // A journal entry of a deploy of `desired` that failed (as the executor writes it).
  store::JournalEntry FailedDeploy(const Action& a, int64_t run = 7) {
    store::JournalEntry e;
    e.id = 40;
    e.run_id = run;
    e.action_id = a.id;
    e.resource = ResourceKeyOf(a);
    e.kind = "update";
    e.state = "failed";
    e.finished_at = "2026-12-07T10:00:00.000Z";
    e.detail = json{{"error", "not healthy within 2s (healthy 0/1)"},
                    {"deployment", "d-1"},
                    {"desired_digest", DesiredDigest(a)}}
                   .dump();
    return e;
  }
  PlanInput in_;
};

TEST_F(StatusTest, OneRowPerServiceAndEnvironmentWithItsState) {
  json web_prod = App("/app/production/web", 2, "v1"), web_stg = App("/app/staging/web", 1, "v2");
  json api_prod = App("/app/production/api", 3, "a1");
  Want("web", "production", web_prod);
  Want("web", "staging", web_stg);
  Want("api", "production", api_prod);
  in_.applied_apps["/app/production/web"] = NormalizeApp(web_prod);
  in_.applied_apps["/app/staging/web"] = NormalizeApp(App("/app/staging/web", 1, "v1"));
  in_.applied_apps["/app/production/api"] = NormalizeApp(api_prod);
  in_.live.apps["/app/production/web"] = Live(web_prod, 2);                       // as applied
  in_.live.apps["/app/staging/web"] = Live(App("/app/staging/web", 1, "v1"), 1);  // Git moved on
  in_.live.apps["/app/production/api"] =
      Live(App("/app/production/api", 5, "a1"), 4);  // scaled by hand
  in_.live.apps["/app/production/api"].deployment_ids = {"d-9"};

  Plan plan = MakePlan(in_);
  StatusReport r = BuildStatus(in_, plan);
  ASSERT_EQ(r.rows.size(), 3u);
  // By service, then environments in platform-file order.
  EXPECT_EQ(r.rows[0].service, "api");
  EXPECT_EQ(r.rows[1].env, "production");
  EXPECT_EQ(r.rows[2].env, "staging");

  const StatusRow& api = r.rows[0];
  EXPECT_EQ(api.state, SyncState::kDrifted);
  EXPECT_EQ(api.live_tag, "a1");
  EXPECT_EQ(api.healthy, 4);
  EXPECT_EQ(api.wanted, 5);
  EXPECT_EQ(api.desired_instances, 3);
  EXPECT_TRUE(api.deploying);
  EXPECT_EQ(api.deployments, std::vector<std::string>{"d-9"});

  EXPECT_EQ(r.rows[1].state, SyncState::kInSync);
  EXPECT_FALSE(r.rows[1].deploying);
  EXPECT_EQ(r.rows[1].healthy, 2);

  const StatusRow& stg = r.rows[2];
  EXPECT_EQ(stg.state, SyncState::kPending);
  EXPECT_EQ(stg.live_tag, "v1");
  EXPECT_EQ(stg.desired_tag, "v2");
  ASSERT_FALSE(stg.details.empty());
  EXPECT_NE(stg.details[0].find("app update (desired-changed)"), std::string::npos)
      << stg.details[0];

  std::string text = RenderStatusText(r, false);
  EXPECT_NE(text.find("v1 → v2"), std::string::npos) << text;
  EXPECT_NE(text.find("4/5 → 3"), std::string::npos) << text;
  EXPECT_NE(text.find("3 apps: 1 in sync, 1 pending, 1 drifted, 0 failed, 0 paused."),
            std::string::npos)
      << text;
  json j = StatusToJson(r);
  EXPECT_EQ(j["counts"]["pending"], 1);
  EXPECT_EQ(j["services"][0]["instances"]["healthy"], 4);
  EXPECT_EQ(j["services"][0]["deploying"], true);
}

TEST_F(StatusTest, PausedMissingUnmanagedAndPendingKeys) {
  json web_prod = App("/app/production/web", 2, "v1"), web_stg = App("/app/staging/web", 1, "v1");
  json api_prod = App("/app/production/api", 1, "a1");
  Want("web", "production", web_prod);
  Want("web", "staging", web_stg, /*paused=*/true);
  Want("api", "production", api_prod);
  json foreign = api_prod;
  foreign["labels"].erase("galley.platform");
  in_.live.apps["/app/production/api"] = Live(foreign, 1);
  in_.live.apps["/app/production/web"] = Live(web_prod, 2);
  in_.applied_apps["/app/production/web"] = NormalizeApp(web_prod);
  // A config key Git adds: the app's row is pending because of its key.
  in_.kv.push_back(
      DesiredKv{"web", "production", "app/production/web/LOG_LEVEL", "info", false, "", false});
  StatusReport r = BuildStatus(in_, MakePlan(in_));
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0].state, SyncState::kUnmanaged);
  EXPECT_EQ(r.rows[1].state, SyncState::kPending);
  EXPECT_NE(r.rows[1].details[0].find("key app/production/web/LOG_LEVEL put (new)"),
            std::string::npos)
      << r.rows[1].details[0];
  EXPECT_EQ(r.rows[2].state, SyncState::kPaused);
  EXPECT_FALSE(r.rows[2].live);
  EXPECT_NE(RenderStatusText(r, false).find("(not deployed)"), std::string::npos);
}

TEST_F(StatusTest, AnAppWithAnAppliedRecordIsGalleysWithoutTheLabel) {
  json body = App("/app/production/web", 1, "v1");
  Want("web", "production", body);
  json unlabelled = body;
  unlabelled["labels"].erase("galley.platform");
  in_.live.apps["/app/production/web"] = Live(unlabelled, 1);
  in_.applied_apps["/app/production/web"] = NormalizeApp(unlabelled);
  StatusReport r = BuildStatus(in_, MakePlan(in_));
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_NE(r.rows[0].state, SyncState::kUnmanaged);
  EXPECT_TRUE(MakeRestartPlan(in_, "web").ok());
}

TEST_F(StatusTest, OnlyTheScopeIsListed) {
  Want("web", "production", App("/app/production/web", 1, "v1"));
  Want("web", "staging", App("/app/staging/web", 1, "v1"));
  Want("api", "production", App("/app/production/api", 1, "a1"));
  in_.environments = {"staging"};
  in_.targets = {"web"};
  StatusReport r = BuildStatus(in_, MakePlan(in_));
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].app_id, "/app/staging/web");
  EXPECT_EQ(r.rows[0].state, SyncState::kPending);  // not deployed yet
}

TEST(ImageTagTest, TagOfAReference) {
  EXPECT_EQ(ImageTag("registry.local:5000/a/b:v1.2"), "v1.2");
  EXPECT_EQ(ImageTag("registry.local:5000/a/b"), "");
  EXPECT_EQ(ImageTag("b:master-1a2b-56@sha256:abc"), "master-1a2b-56");
  EXPECT_EQ(ImageTag(""), "");
}

TEST_F(StatusTest, TheIdenticalFailedChangeIsHeldAndShownAndANewOneIsNot) {
  json live = App("/app/production/web", 2, "v1");
  Want("web", "production", App("/app/production/web", 2, "v2"));
  in_.live.apps["/app/production/web"] = Live(live, 2);
  in_.applied_apps["/app/production/web"] = NormalizeApp(live);
  Plan plan = MakePlan(in_);
  ASSERT_EQ(plan.actions.size(), 1u);
  store::JournalEntry failed = FailedDeploy(plan.actions[0]);

  AnnotateFailures(plan, {{ResourceKeyOf(plan.actions[0]), failed}});
  ASSERT_TRUE(plan.actions[0].last_failure.has_value());
  EXPECT_EQ(plan.actions[0].last_failure->run_id, 7);
  EXPECT_EQ(plan.actions[0].last_failure->at, "2026-12-07T10:00:00.000Z");
  auto refused = RetryRefusals(plan);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0],
            "app:/app/production/web: the same change failed at 2026-12-07T10:00:00.000Z in run 7: "
            "not healthy "
            "within 2s (healthy 0/1)");
  // Shown in every view of the plan, and carried by the plan file.
  EXPECT_NE(RenderPlanText(plan, false)
                .find("last failed: the same change failed at 2026-12-07T10:00:00.000Z in run 7"),
            std::string::npos)
      << RenderPlanText(plan, false);
  EXPECT_NE(RenderPlanMarkdown(plan).find("failed before"), std::string::npos);
  json doc = PlanToJson(plan);
  EXPECT_EQ(doc["actions"][0]["last_failure"]["run"], 7);
  auto back = PlanFromJson(doc);
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(back->actions[0].last_failure.has_value());
  EXPECT_EQ(back->actions[0].last_failure->error, "not healthy within 2s (healthy 0/1)");
  // status says failed.
  StatusReport r = BuildStatus(in_, plan);
  EXPECT_EQ(r.rows[0].state, SyncState::kFailed);
  EXPECT_NE(RenderStatusText(r, false).find("last failed:"), std::string::npos);

  // A changed desired state (another tag) is a new change: not held.
  in_.apps.clear();
  Want("web", "production", App("/app/production/web", 2, "v3"));
  Plan next = MakePlan(in_);
  AnnotateFailures(next, {{ResourceKeyOf(next.actions[0]), failed}});
  EXPECT_FALSE(next.actions[0].last_failure.has_value());
  EXPECT_TRUE(RetryRefusals(next).empty());
}

TEST(HoldFailedTest, TakesOutHeldActionsAndWhatDependsOnThem) {
  Plan plan;
  Action kv, held, dependant, other;
  kv.id = "kv:app/production/web/K";
  kv.kind = ActionKind::kKvPut;
  held.id = "app:/app/production/web";
  held.kind = ActionKind::kAppUpdate;
  held.last_failure = LastFailure{3, "2026-12-07T10:00:00.000Z", "not healthy"};
  dependant.id = "kv:app/production/web/OLD";
  dependant.kind = ActionKind::kKvDelete;
  dependant.depends_on = {held.id};
  other.id = "app:/app/production/api";
  other.kind = ActionKind::kAppScale;
  plan.actions = {kv, held, dependant, other};
  auto lines = HoldFailed(plan);
  ASSERT_EQ(plan.actions.size(), 2u);
  EXPECT_EQ(plan.actions[0].id, kv.id);
  EXPECT_EQ(plan.actions[1].id, other.id);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "app:/app/production/web: the same change failed at 2026-12-07T10:00:00.000Z in run 3: "
            "not healthy");
  EXPECT_EQ(lines[1], "kv:app/production/web/OLD: depends on a change held above");
}

TEST_F(StatusTest, OnlyFailedDeploysHoldAChange) {
  Want("web", "production", App("/app/production/web", 2, "v2"));
  in_.live.apps["/app/production/web"] = Live(App("/app/production/web", 2, "v1"), 2);
  Plan plan = MakePlan(in_);
  const Action& a = plan.actions[0];
  auto held = [&](store::JournalEntry e) {
    Plan p = plan;
    AnnotateFailures(p, {{ResourceKeyOf(a), e}});
    return p.actions[0].last_failure.has_value();
  };
  EXPECT_TRUE(held(FailedDeploy(a)));
  // A later success of the same change clears it.
  store::JournalEntry ok = FailedDeploy(a);
  ok.state = "succeeded";
  EXPECT_FALSE(held(ok));
  // A write Marathon never took (refused, conflict, lost): nothing broken was deployed.
  store::JournalEntry refused = FailedDeploy(a);
  refused.detail = json{{"error", "marathon: 422 bad definition"}}.dump();
  EXPECT_FALSE(held(refused));
  // A detail galley cannot read.
  store::JournalEntry garbage = FailedDeploy(a);
  garbage.detail = "{not json";
  EXPECT_FALSE(held(garbage));
  // A failure settled by a later apply carries the digest of its start detail's "expect".
  json start = {{"target", a.target}, {"expect", NormalizeApp(a.desired)}};
  EXPECT_EQ(ExpectDigest(json::parse(SafeDump(start))), DesiredDigest(a));
  start["restart"] = true;
  EXPECT_EQ(ExpectDigest(start), "");
  EXPECT_EQ(ExpectDigest(json{{"expect", {{"absent", true}}}}), "");
}

TEST_F(StatusTest, RestartPlanRestartsLiveAppsOfTheServiceOnly) {
  json prod = App("/app/production/web", 2, "v1");
  Want("web", "production", prod);
  Want("web", "staging", App("/app/staging/web", 1, "v1"));
  Want("api", "production", App("/app/production/api", 1, "a1"));
  in_.live.apps["/app/production/web"] = Live(prod, 2, "2026-v1");
  in_.live.apps["/app/production/api"] = Live(App("/app/production/api", 1, "a1"), 1);
  auto plan = MakeRestartPlan(in_, "web");
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_EQ(plan->actions.size(), 1u);  // staging is not deployed: skipped, listed
  const Action& a = plan->actions[0];
  EXPECT_EQ(a.kind, ActionKind::kAppRestart);
  EXPECT_EQ(a.reason, Reason::kRequested);
  EXPECT_EQ(a.token, "2026-v1");
  EXPECT_TRUE(a.changes.empty());
  EXPECT_EQ(DesiredDigest(a), "");  // a restart asked for is never held
  ASSERT_FALSE(a.notes.empty());
  EXPECT_NE(a.notes[0].find("minimumHealthCapacity 0.5, maximumOverCapacity 0.5"),
            std::string::npos)
      << a.notes[0];
  ASSERT_EQ(plan->skipped.size(), 1u);
  EXPECT_EQ(plan->skipped[0].target, "/app/staging/web");
  EXPECT_NE(
      RenderPlanText(*plan, false).find("± restart marathon app /app/production/web   (requested)"),
      std::string::npos)
      << RenderPlanText(*plan, false);
  EXPECT_EQ(PlanFromJson(PlanToJson(*plan))->actions[0].reason, Reason::kRequested);

  // Nothing live in scope: an error naming why.
  in_.environments = {"staging"};
  auto none = MakeRestartPlan(in_, "web");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("not deployed"), std::string::npos)
      << none.status().message();
}

TEST_F(StatusTest, RestartRefusesAnAppGalleyDoesNotOwn) {
  json body = App("/app/production/web", 1, "v1");
  Want("web", "production", body);
  body["labels"].erase("galley.platform");
  in_.live.apps["/app/production/web"] = Live(body, 1);
  auto plan = MakeRestartPlan(in_, "web");
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("does not restart an app it does not own"),
            std::string::npos);
}

}  // namespace
}  // namespace galley::engine
