// SPDX-License-Identifier: Apache-2.0
// Chronos jobs in the planner (issue #16): create/update/delete, unmanaged jobs, pending vs
// drift, drift policies, prune, paused, --target, dependency order with parents (a rename
// included), hook runs only around definition changes, --skip-hooks; drift reports of jobs.
#include <algorithm>

#include <gtest/gtest.h>

#include "engine/drift.h"
#include "engine/hooks.h"
#include "engine/jobs.h"
#include "engine/planner.h"
#include "render/chronos_job.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

json AppBody(const std::string& id, const std::string& tag) {
  return json{{"id", id},
              {"instances", 1},
              {"cpus", 0.1},
              {"mem", 64.0},
              {"labels", {{"galley.platform", "p"}}},
              {"container", {{"type", "DOCKER"}, {"docker", {{"image", "r/web:" + tag}}}}}};
}

json JobBody(const std::string& name, const std::vector<std::string>& parents = {},
             const std::string& command = "run") {
  json j = {{"name", name},          {"command", command},
            {"shell", true},         {"description", render::ChronosJobMarker("p")},
            {"ownerName", "galley"}, {"owner", ""},
            {"retries", 2},          {"disabled", false},
            {"cpus", 0.1},           {"mem", 64}};
  if (parents.empty()) {
    j["schedule"] = "R/2026-01-01T03:00:00.000Z/P1D";
  } else {
    j["parents"] = parents;
  }
  return j;
}

class JobPlannerTest : public ::testing::Test {
 protected:
  JobPlannerTest() {
    in_.platform = "p";
    in_.environments = {"production", "staging"};
    in_.app_prefixes = {"/app/production/", "/app/staging/"};
    in_.kv_prefixes = {"app/production/", "app/staging/"};
    in_.declared_services = {"web", "api"};
    in_.hmac_key = "k";
    in_.chronos = true;
    in_.live.jobs_observed = true;
  }
  // A job of service web in production, named production-web-<job>.
  DesiredJob& WantJob(const std::string& job, const std::vector<std::string>& parents = {},
                      const std::string& hook = "", const std::string& command = "run") {
    DesiredJob d;
    d.service = "web";
    d.env = "production";
    d.job = job;
    d.name = "production-web-" + job;
    d.body = JobBody(d.name, parents, command);
    d.parents = parents;
    d.hook = hook;
    if (!hook.empty()) d.body["schedule"] = render::kHookSchedule;
    in_.jobs.push_back(d);
    return in_.jobs.back();
  }
  void HaveJob(const json& body) { in_.live.jobs[body["name"]] = body; }
  void Applied(const json& body) { in_.applied_jobs[body["name"]] = NormalizeJob(body); }
  Plan Make() { return MakePlan(in_); }
  static const Action* Find(const Plan& p, const std::string& id) {
    for (const auto& a : p.actions) {
      if (a.id == id) return &a;
    }
    return nullptr;
  }
  static size_t Pos(const Plan& p, const std::string& id) {
    for (size_t i = 0; i < p.actions.size(); ++i) {
      if (p.actions[i].id == id) return i;
    }
    ADD_FAILURE() << id << " not in the plan";
    return p.actions.size();
  }
  PlanInput in_;
};

TEST_F(JobPlannerTest, CreatesAMissingJobAgainstTokenZero) {
  WantJob("report");
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  const Action& a = p.actions[0];
  EXPECT_EQ(a.id, "job:production-web-report");
  EXPECT_EQ(a.kind, ActionKind::kJobCreate);
  EXPECT_EQ(a.reason, Reason::kNew);
  EXPECT_EQ(a.token, "0");
  EXPECT_EQ(a.target, "production-web-report");
  EXPECT_EQ(a.service, "web");
  EXPECT_EQ(a.env, "production");
  EXPECT_EQ(a.desired, in_.jobs[0].body);
  EXPECT_EQ(a.record, NormalizeJob(in_.jobs[0].body));
  EXPECT_FALSE(a.changes.empty());
  EXPECT_EQ(ResourceKeyOf(a), "chronos-job:production-web-report");
  EXPECT_EQ(p.observed_jobs, 0);
}

TEST_F(JobPlannerTest, NothingWithoutChronos) {
  WantJob("report");
  in_.chronos = false;
  EXPECT_TRUE(Make().actions.empty());
}

TEST_F(JobPlannerTest, RoundTripThroughChronosShowsNoChange) {
  DesiredJob& d = WantJob("report");
  // What Chronos gives back: every default filled in, numbers as doubles, counters, and the
  // schedule moved on by a run.
  json live = d.body;
  live["mem"] = 64.0;
  live["disk"] = 256.0;
  live["runAsUser"] = "root";
  live["successCount"] = 3;
  live["lastSuccess"] = "2026-12-07T03:00:01.000Z";
  live["environmentVariables"] = json::array();
  live["schedule"] = "R/2026-12-08T03:00:00.000Z/P1D";
  HaveJob(live);
  Plan p = Make();
  EXPECT_TRUE(p.actions.empty()) << PlanToJson(p).dump(2);
  EXPECT_EQ(p.observed_jobs, 1);
}

TEST_F(JobPlannerTest, UpdateWithFieldDiffsPendingVersusDrift) {
  DesiredJob& d = WantJob("report", {}, "", "run --new");
  json old = JobBody("production-web-report", {}, "run");
  HaveJob(old);
  Applied(old);  // Git moved since galley applied: pending
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  const Action& a = p.actions[0];
  EXPECT_EQ(a.kind, ActionKind::kJobUpdate);
  EXPECT_EQ(a.reason, Reason::kDesiredChanged);
  EXPECT_EQ(a.token, JobDigest(old));
  ASSERT_EQ(a.changes.size(), 1u);
  EXPECT_EQ(a.changes[0].pointer, "/command");
  EXPECT_EQ(a.changes[0].before, "run");
  EXPECT_EQ(a.changes[0].after, "run --new");

  // Git equals what was applied, live edited by hand: drift, reverted by default.
  in_.applied_jobs.clear();
  Applied(d.body);
  p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].reason, Reason::kDrifted);

  // Disabled by hand is drift too.
  json disabled = d.body;
  disabled["disabled"] = true;
  HaveJob(disabled);
  p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].reason, Reason::kDrifted);
  EXPECT_EQ(p.actions[0].changes[0].pointer, "/disabled");
}

TEST_F(JobPlannerTest, DriftPolicyPerKind) {
  DesiredJob& d = WantJob("report");
  Applied(d.body);
  json edited = d.body;
  edited["retries"] = 9;
  HaveJob(edited);
  // Apps set to report do not change jobs; chronos_job: report does.
  in_.policies.platform.marathon_app.drift = model::DriftPolicy::kReport;
  EXPECT_EQ(Make().actions.size(), 1u);
  in_.policies.services["web"].chronos_job.drift = model::DriftPolicy::kReport;
  Plan p = Make();
  EXPECT_TRUE(p.actions.empty());
  ASSERT_EQ(p.drift_reported.size(), 1u);
  EXPECT_EQ(p.drift_reported[0].target, "production-web-report");
  in_.policies.services["web"].chronos_job.drift = model::DriftPolicy::kIgnore;
  p = Make();
  EXPECT_TRUE(p.actions.empty());
  EXPECT_TRUE(p.drift_reported.empty());
}

TEST_F(JobPlannerTest, DeletedByHandIsDrift) {
  DesiredJob& d = WantJob("report");
  Applied(d.body);
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, ActionKind::kJobCreate);
  EXPECT_EQ(p.actions[0].reason, Reason::kDrifted);
}

TEST_F(JobPlannerTest, UnmanagedJobsAreListedAndNeverTouched) {
  json foreign = JobBody("production-web-backup");
  foreign["description"] = "hand-made";
  HaveJob(foreign);
  json elsewhere = JobBody("nightly-cleanup");  // no environment of this platform
  elsewhere["description"] = "someone else's";
  HaveJob(elsewhere);
  in_.policies.platform.all.prune = true;
  Plan p = Make();
  EXPECT_TRUE(p.actions.empty());
  ASSERT_EQ(p.unmanaged.size(), 1u);
  EXPECT_EQ(p.unmanaged[0].target, "production-web-backup");

  // Declared, but the live one is not galley's: an error, never taken over.
  WantJob("backup");
  p = Make();
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_NE(p.errors[0].find("production-web-backup"), std::string::npos);
}

TEST_F(JobPlannerTest, OrphansFollowThePruneRules) {
  json old = JobBody("production-web-old");
  HaveJob(old);
  Applied(old);
  Plan p = Make();  // prune off: listed
  EXPECT_TRUE(p.actions.empty());
  ASSERT_EQ(p.unmanaged.size(), 1u);
  EXPECT_NE(p.unmanaged[0].why.find("prune is off"), std::string::npos);

  in_.policies.platform.chronos_job.prune = true;
  p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, ActionKind::kJobDelete);
  EXPECT_EQ(p.actions[0].reason, Reason::kOrphan);
  EXPECT_EQ(p.actions[0].token, JobDigest(old));
  EXPECT_EQ(p.actions[0].service, "web");
  EXPECT_EQ(p.actions[0].env, "production");

  // Out of scope: another target, or a paused environment.
  in_.targets = {"api"};
  EXPECT_TRUE(Make().actions.empty());
  in_.targets.clear();
  in_.paused_environments = {"production"};
  p = Make();
  EXPECT_TRUE(p.actions.empty());
  ASSERT_EQ(p.skipped.size(), 1u);
}

TEST_F(JobPlannerTest, PausedAndTargetedJobsAreSkipped) {
  WantJob("report").paused = true;
  Plan p = Make();
  EXPECT_TRUE(p.actions.empty());
  ASSERT_EQ(p.skipped.size(), 1u);
  EXPECT_EQ(p.skipped[0].target, "production-web-report");
  in_.jobs[0].paused = false;
  in_.targets = {"api"};
  EXPECT_TRUE(Make().actions.empty());
  in_.targets = {"web"};
  EXPECT_EQ(Make().actions.size(), 1u);
  in_.environments = {"staging"};
  EXPECT_TRUE(Make().actions.empty());
}

TEST_F(JobPlannerTest, ParentsAreWrittenBeforeChildren) {
  // Declared in an order that is not the dependency order (names sort child first).
  WantJob("a-child", {"production-web-z-parent"});
  WantJob("z-parent");
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 2u);
  EXPECT_LT(Pos(p, "job:production-web-z-parent"), Pos(p, "job:production-web-a-child"));
  EXPECT_EQ(Find(p, "job:production-web-a-child")->depends_on,
            std::vector<std::string>{"job:production-web-z-parent"});
  // The plan file loads (every dependency is an earlier action).
  EXPECT_TRUE(PlanFromJson(PlanToJson(p)).ok());
}

TEST_F(JobPlannerTest, ChildrenAreDeletedBeforeParents) {
  json parent = JobBody("production-web-a-parent");
  json child = JobBody("production-web-z-child", {"production-web-a-parent"});
  for (const auto& j : {parent, child}) {
    HaveJob(j);
    Applied(j);
  }
  in_.policies.platform.all.prune = true;
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 2u);
  EXPECT_LT(Pos(p, "job:production-web-z-child"), Pos(p, "job:production-web-a-parent"));
  EXPECT_EQ(Find(p, "job:production-web-a-parent")->depends_on,
            std::vector<std::string>{"job:production-web-z-child"});
  EXPECT_TRUE(PlanFromJson(PlanToJson(p)).ok());
}

TEST_F(JobPlannerTest, ARenamedParentComesOutInAValidOrder) {
  // Git renamed the parent "a-old" to "b-new"; the child follows it.
  json old_parent = JobBody("production-web-a-old");
  json child_before = JobBody("production-web-child", {"production-web-a-old"});
  for (const auto& j : {old_parent, child_before}) {
    HaveJob(j);
    Applied(j);
  }
  WantJob("b-new");
  WantJob("child", {"production-web-b-new"});
  in_.policies.platform.all.prune = true;
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 3u) << PlanToJson(p).dump(2);
  size_t create = Pos(p, "job:production-web-b-new");
  size_t update = Pos(p, "job:production-web-child");
  size_t del = Pos(p, "job:production-web-a-old");
  EXPECT_EQ(p.actions[create].kind, ActionKind::kJobCreate);
  EXPECT_EQ(p.actions[update].kind, ActionKind::kJobUpdate);
  EXPECT_EQ(p.actions[del].kind, ActionKind::kJobDelete);
  EXPECT_LT(create, update);
  EXPECT_LT(update, del);  // the old parent goes only once nothing depends on it
  EXPECT_EQ(p.actions[del].depends_on, std::vector<std::string>{"job:production-web-child"});
  EXPECT_TRUE(PlanFromJson(PlanToJson(p)).ok());
}

TEST_F(JobPlannerTest, HooksRunOnlyAroundDefinitionChanges) {
  in_.apps.push_back(DesiredApp{
      "web", "production", "/app/production/web", AppBody("/app/production/web", "v2"), {}, false});
  WantJob("migrate", {}, "pre-deploy");
  WantJob("smoke", {}, "post-deploy");
  WantJob("report");
  for (const auto& j : in_.jobs) {  // the jobs exist as Git has them
    HaveJob(j.body);
    Applied(j.body);
  }
  // A new app: pre-deploy hook → app → post-deploy hook.
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 3u) << PlanToJson(p).dump(2);
  size_t pre = Pos(p, "hook:production-web-migrate"), app = Pos(p, "app:/app/production/web"),
         post = Pos(p, "hook:production-web-smoke");
  EXPECT_LT(pre, app);
  EXPECT_LT(app, post);
  const Action& h = p.actions[pre];
  EXPECT_EQ(h.kind, ActionKind::kHookRun);
  EXPECT_EQ(h.target, "production-web-migrate");
  EXPECT_EQ(h.reason, Reason::kNew);
  EXPECT_EQ(h.desired, (json{{"hook", "pre-deploy"}, {"app", "/app/production/web"}}));
  EXPECT_TRUE(h.depends_on.empty());  // the job is already as Git has it
  EXPECT_EQ(ResourceKeyOf(h), "chronos-job:production-web-migrate");
  EXPECT_NE(std::find(p.actions[app].depends_on.begin(), p.actions[app].depends_on.end(),
                      "hook:production-web-migrate"),
            p.actions[app].depends_on.end());
  EXPECT_EQ(p.actions[post].depends_on, std::vector<std::string>{"app:/app/production/web"});
  EXPECT_NE(PlanToJson(p)["summary"].get<std::string>().find("hooks: 2 to run"), std::string::npos);
  EXPECT_TRUE(PlanFromJson(PlanToJson(p)).ok());

  // A scale only: no hooks.
  model::LiveApp live;
  live.id = "/app/production/web";
  live.body = AppBody("/app/production/web", "v2");
  live.body["instances"] = 3;
  live.version = "v";
  in_.live.apps[live.id] = live;
  p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, ActionKind::kAppScale);

  // An update: hooks again, and the changed hook job is written before it runs.
  live.body = AppBody("/app/production/web", "v1");
  in_.live.apps[live.id] = live;
  in_.jobs[0].body["command"] = "migrate --v2";
  p = Make();
  ASSERT_EQ(p.actions.size(), 4u) << PlanToJson(p).dump(2);
  EXPECT_EQ(p.actions[Pos(p, "hook:production-web-migrate")].depends_on,
            std::vector<std::string>{"job:production-web-migrate"});
  EXPECT_LT(Pos(p, "job:production-web-migrate"), Pos(p, "hook:production-web-migrate"));
  EXPECT_LT(Pos(p, "hook:production-web-migrate"), Pos(p, "app:/app/production/web"));
  EXPECT_EQ(p.actions[Pos(p, "hook:production-web-migrate")].reason, Reason::kDesiredChanged);
  EXPECT_TRUE(PlanFromJson(PlanToJson(p)).ok());

  // --skip-hooks: no runs, a warning naming them.
  in_.skip_hooks = true;
  p = Make();
  EXPECT_EQ(p.actions.size(), 2u);
  EXPECT_EQ(Find(p, "hook:production-web-migrate"), nullptr);
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_NE(p.warnings[0].find("production-web-migrate (pre-deploy of /app/production/web)"),
            std::string::npos);
  EXPECT_NE(p.warnings[0].find("production-web-smoke (post-deploy of /app/production/web)"),
            std::string::npos);
}

TEST_F(JobPlannerTest, HooksOfOtherServicesOrEnvironmentsDoNotRun) {
  in_.apps.push_back(DesiredApp{
      "api", "production", "/app/production/api", AppBody("/app/production/api", "v1"), {}, false});
  WantJob("migrate", {}, "pre-deploy");
  HaveJob(in_.jobs[0].body);
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].id, "app:/app/production/api");
}

TEST(PlanHooks, DeletesRestartsAndScalesHaveNoHooks) {
  DesiredJob j;
  j.service = "web";
  j.env = "production";
  j.name = "production-web-migrate";
  j.hook = "pre-deploy";
  j.body = JobBody(j.name);
  for (ActionKind k : {ActionKind::kAppDelete, ActionKind::kAppRestart, ActionKind::kAppScale}) {
    Action a;
    a.id = "app:/app/production/web";
    a.kind = k;
    a.service = "web";
    a.env = "production";
    std::vector<Action> actions{a};
    EXPECT_TRUE(PlanHooks(actions, {j}, false).runs.empty());
    EXPECT_TRUE(actions[0].depends_on.empty());
  }
}

TEST_F(JobPlannerTest, DriftReportsHandEditedAndDeletedJobs) {
  WantJob("report");
  WantJob("gone");
  const DesiredJob& d = in_.jobs[0];  // (after the last push_back)
  Applied(in_.jobs[0].body);
  Applied(in_.jobs[1].body);
  json edited = d.body;
  edited["disabled"] = true;
  edited["command"] = "by hand";
  HaveJob(edited);
  DriftReport r = FindDrift(in_);
  ASSERT_EQ(r.drift.size(), 2u);
  const DriftItem& gone = r.drift[0];
  EXPECT_EQ(gone.resource, "chronos-job:production-web-gone");
  EXPECT_EQ(gone.what, DriftWhat::kDeleted);
  const DriftItem& changed = r.drift[1];
  EXPECT_EQ(changed.resource, "chronos-job:production-web-report");
  EXPECT_EQ(changed.kind, model::ResourceKind::kChronosJob);
  EXPECT_EQ(changed.what, DriftWhat::kChanged);
  EXPECT_EQ(changed.change, "disabled");
  EXPECT_EQ(changed.policy, model::DriftPolicy::kRevert);
  EXPECT_FALSE(changed.pending);
  ASSERT_EQ(changed.fields.size(), 2u);
  EXPECT_EQ(changed.fields[0].pointer, "/command");
  EXPECT_EQ(changed.fields[1].pointer, "/disabled");
  json doc = DriftToJson(r);
  EXPECT_EQ(doc["drift"][1]["kind"], "chronos_job");
  EXPECT_EQ(doc["drift"][1]["live"]["change"], "disabled");
  EXPECT_TRUE(DriftInScope(in_, "chronos-job:production-web-report"));
  in_.targets = {"api"};
  EXPECT_FALSE(DriftInScope(in_, "chronos-job:production-web-report"));
  in_.targets.clear();

  // The policy says report: still listed, with that policy; ignore: left out.
  in_.policies.platform.chronos_job.drift = model::DriftPolicy::kReport;
  EXPECT_EQ(FindDrift(in_).drift[1].policy, model::DriftPolicy::kReport);
  in_.policies.platform.chronos_job.drift = model::DriftPolicy::kIgnore;
  EXPECT_TRUE(FindDrift(in_).drift.empty());

  // Reverted, the record resolves as reverted; accepted when live still holds it.
  in_.policies.platform.chronos_job.drift.reset();
  std::string fields = DriftFieldsJson(changed).dump();
  EXPECT_EQ(DriftResolution(in_, FindDrift(in_), changed.resource, fields), "accepted");
  HaveJob(d.body);
  EXPECT_EQ(DriftResolution(in_, FindDrift(in_), changed.resource, fields), "reverted");
}

}  // namespace
}  // namespace galley::engine
