// SPDX-License-Identifier: Apache-2.0
// The executor's Chronos steps (engine/job_steps.h) against an in-memory Chronos
// (clients/chronos_fake.h) and a fake clock: job writes checked against their tokens, in
// dependency order, recorded; hook runs followed to success, failure or the deadline, a failed
// pre-deploy hook stopping its app and everything after it, --skip-hooks on a saved plan,
// crash recovery of each interrupted kind, and the dry run's calls.
#include "engine/job_steps.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include <gtest/gtest.h>

#include "clients/chronos_fake.h"
#include "engine/apply.h"
#include "engine/jobs.h"
#include "support/fake_clock.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;
using clients::FakeChronosClient;

// Marathon and Consul reduced to what these tests need (an app written is healthy at once),
// and the job calls over a FakeChronosClient. Every call is logged in order.
class JobTarget : public ApplyTarget {
 public:
  Result<clients::KvTxnResult> KvTxn(const std::vector<clients::KvTxnOp>&) override {
    clients::KvTxnResult r;
    r.committed = true;
    return r;
  }
  Result<std::optional<std::string>> KvGet(const std::string&) override {
    return std::optional<std::string>();
  }
  Result<clients::MarathonDeploymentResult> CreateApp(const json& body, bool) override {
    return Wrote("create " + body["id"].get<std::string>(), body);
  }
  Result<clients::MarathonDeploymentResult> UpdateApp(const std::string& id, const json& body,
                                                      bool) override {
    return Wrote("update " + id, body);
  }
  Result<clients::MarathonDeploymentResult> ScaleApp(const std::string& id, int n, bool) override {
    return Wrote("scale " + id, json{{"id", id}, {"instances", n}});
  }
  Result<clients::MarathonDeploymentResult> DeleteApp(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu);
    calls.push_back("delete " + id);
    apps.erase(id);
    return clients::MarathonDeploymentResult{"d", "v"};
  }
  Result<clients::MarathonDeploymentResult> CancelDeployment(const std::string&) override {
    return clients::MarathonDeploymentResult{};
  }
  Result<json> AppVersion(const std::string& id, const std::string&) override {
    return Status::NotFound(id);
  }
  Result<model::LiveApp> App(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu);
    auto it = apps.find(id);
    if (it == apps.end()) return Status::NotFound("marathon: app '" + id + "' does not exist");
    model::LiveApp app;
    app.id = id;
    app.body = it->second;
    app.version = versions[id];
    app.instances = app.tasks_running = app.tasks_healthy = it->second.value("instances", 1);
    return app;
  }
  Result<std::vector<clients::MarathonDeployment>> Deployments() override {
    return std::vector<clients::MarathonDeployment>{};
  }
  Status PutRecord(const std::string& key, const std::string& value) override {
    std::lock_guard<std::mutex> l(mu);
    records[key] = value;
    return Status::Ok();
  }

  Status PutJob(const json& body) override {
    Log("put-job " + body.value("name", std::string()));
    return chronos.PutJob(body);
  }
  Status DeleteJob(const std::string& name) override {
    Log("delete-job " + name);
    return chronos.DeleteJob(name);
  }
  Status StartJob(const std::string& name) override {
    Log("start-job " + name);
    Status s = chronos.StartJob(name, "");
    if (s.ok() && lose_start_answer) return Status::Unavailable("chronos: PUT: timed out");
    return s;
  }
  Result<clients::ChronosJobStats> JobStats(const std::string& name) override {
    ++stats_reads;
    return chronos.GetJobStats(name);
  }
  Result<clients::ChronosJob> Job(const std::string& name) override { return chronos.GetJob(name); }
  std::string JobOutputLocation(const std::string& name) override {
    return "the sandbox of " + name;
  }

  Result<clients::MarathonDeploymentResult> Wrote(const std::string& call, const json& body) {
    std::lock_guard<std::mutex> l(mu);
    calls.push_back(call);
    std::string id = body["id"];
    apps[id] = body;
    versions[id] = "v" + std::to_string(++deployments);
    return clients::MarathonDeploymentResult{"d-" + std::to_string(deployments), versions[id]};
  }
  void Log(const std::string& call) {
    std::lock_guard<std::mutex> l(mu);
    calls.push_back(call);
  }
  size_t Pos(const std::string& call) {
    std::lock_guard<std::mutex> l(mu);
    auto it = std::find(calls.begin(), calls.end(), call);
    return it == calls.end() ? std::string::npos : static_cast<size_t>(it - calls.begin());
  }

  FakeChronosClient chronos;
  std::mutex mu;
  std::vector<std::string> calls;
  std::map<std::string, json> apps;
  std::map<std::string, std::string> versions, records;
  int deployments = 0;
  std::atomic<int> stats_reads{0};
  bool lose_start_answer = false;  // the run starts, its answer is lost
};

json ScheduledJob(const std::string& name, const std::string& command = "report") {
  return json{{"name", name},
              {"command", command},
              {"schedule", "R/2030-01-01T00:00:00Z/PT1H"},
              {"description", "galley"}};
}

json DependentJob(const std::string& name, const std::string& parent) {
  return json{{"name", name}, {"command", "after"}, {"parents", {parent}}};
}

Action JobAction(ActionKind kind, const json& body, const std::string& token) {
  Action a;
  a.kind = kind;
  a.service = "web";
  a.env = "production";
  a.target = body["name"];
  a.id = JobActionId(a.target);
  a.token = token;
  if (kind != ActionKind::kJobDelete) a.desired = body;
  return a;
}

Action HookAction(const std::string& job, const std::string& hook, const std::string& app) {
  Action a;
  a.kind = ActionKind::kHookRun;
  a.service = "web";
  a.env = "production";
  a.target = job;
  a.id = HookActionId(job);
  a.desired = json{{"hook", hook}, {"app", app}};
  return a;
}

Action AppUpdate(const std::string& svc) {
  Action a;
  a.kind = ActionKind::kAppUpdate;
  a.service = svc;
  a.env = "production";
  a.target = "/app/production/" + svc;
  a.id = "app:" + a.target;
  a.token = "v0";
  a.desired = json{{"id", a.target}, {"instances", 2}, {"cmd", "new"}};
  return a;
}

class CollectEvents : public ApplyEventSink {
 public:
  void On(const ApplyEvent& e) override {
    std::lock_guard<std::mutex> l(mu);
    lines.push_back(e.line);
  }
  bool Has(const std::string& part) {
    std::lock_guard<std::mutex> l(mu);
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& s) { return s.find(part) != std::string::npos; });
  }
  std::mutex mu;
  std::vector<std::string> lines;
};

class JobStepsTest : public ::testing::Test {
 protected:
  JobStepsTest() {
    store_ = store::OpenSqliteStore(":memory:").value();
    run_ = store_->BeginRun("apply", "cli", "c0ffee", "me@host").value();
    records_.store = store_.get();
    records_.run_id = run_;
    records_.commit = "c0ffee";
    records_.who = "me@host";
    records_.applied_prefix = "galley/p/applied/";
    records_.hmac_key = "k";
    opts_.clock = &clock_;
    opts_.events = &events_;
    opts_.poll_interval = std::chrono::milliseconds(500);
  }
  ApplyResult Apply() { return ExecutePlan(plan_, target_, opts_, records_); }
  const ActionOutcome& Outcome(const ApplyResult& r, const std::string& id) {
    for (const auto& o : r.outcomes) {
      if (o.action_id == id) return o;
    }
    ADD_FAILURE() << "no outcome for " << id;
    return r.outcomes.at(0);
  }
  std::map<std::string, std::string> JournalStates() {
    std::map<std::string, std::string> states;
    auto journal = store_->Journal(run_).value();
    for (const auto& e : journal) states[e.action_id] = e.state;
    return states;
  }
  // An app that is live at v0 with the old definition.
  void HaveApp(const std::string& svc) {
    std::string id = "/app/production/" + svc;
    target_.apps[id] = json{{"id", id}, {"instances", 2}, {"cmd", "old"}};
    target_.versions[id] = "v0";
  }

  JobTarget target_;
  Plan plan_;
  ApplyOptions opts_;
  ApplyRecords records_;
  CollectEvents events_;
  std::unique_ptr<store::StateStore> store_;
  int64_t run_ = 0;
  testing::FakeClock clock_;
};

TEST_F(JobStepsTest, JobsAreWrittenParentsFirstCheckedAgainstTheirTokensAndRecorded) {
  json old_report = ScheduledJob("production-web-report", "old");
  target_.chronos.Seed(old_report);
  target_.chronos.Seed(ScheduledJob("production-web-gone"));
  Action parent = JobAction(ActionKind::kJobCreate, ScheduledJob("production-web-nightly"), "0");
  Action child = JobAction(ActionKind::kJobCreate,
                           DependentJob("production-web-after", "production-web-nightly"), "0");
  child.depends_on = {parent.id};
  Action update = JobAction(ActionKind::kJobUpdate, ScheduledJob("production-web-report", "new"),
                            JobDigest(old_report));
  Action del = JobAction(ActionKind::kJobDelete, ScheduledJob("production-web-gone"),
                         JobDigest(ScheduledJob("production-web-gone")));
  plan_.actions = {parent, child, update, del};
  ApplyResult r = Apply();
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(r.applied, 4);
  EXPECT_LT(target_.Pos("put-job production-web-nightly"),
            target_.Pos("put-job production-web-after"));
  EXPECT_EQ(target_.chronos.GetJob("production-web-report")->body["command"], "new");
  EXPECT_FALSE(target_.chronos.GetJob("production-web-gone").ok());
  // Recorded like apps: the store's rows and the service's record in Consul.
  auto applied = store_->LastApplied().value();
  ASSERT_TRUE(applied.count("chronos-job:production-web-report"));
  EXPECT_EQ(json::parse(applied["chronos-job:production-web-report"].body),
            NormalizeJob(update.desired));
  EXPECT_TRUE(applied["chronos-job:production-web-gone"].deleted);
  json rec = json::parse(target_.records.at("galley/p/applied/production/web"));
  EXPECT_EQ(rec["jobs"]["production-web-nightly"], NormalizeJob(parent.desired));
  EXPECT_FALSE(rec["jobs"].contains("production-web-gone"));
  for (const auto& [id, state] : JournalStates()) EXPECT_EQ(state, "succeeded") << id;
  EXPECT_TRUE(events_.Has("job-create production-web-nightly: done in"));
}

TEST_F(JobStepsTest, AJobChangedCreatedOrDeletedSinceThePlanIsAConflictNeverOverwritten) {
  json planned = ScheduledJob("production-web-edited", "planned-against");
  target_.chronos.Seed(ScheduledJob("production-web-edited", "edited-by-hand"));
  target_.chronos.Seed(ScheduledJob("production-web-new"));  // created by someone else
  Action edited = JobAction(ActionKind::kJobUpdate, ScheduledJob("production-web-edited", "git"),
                            JobDigest(planned));
  Action created =
      JobAction(ActionKind::kJobCreate, ScheduledJob("production-web-new", "git"), "0");
  Action deleted = JobAction(ActionKind::kJobUpdate, ScheduledJob("production-web-deleted"),
                             JobDigest(ScheduledJob("production-web-deleted", "x")));
  Action child = JobAction(ActionKind::kJobCreate,
                           DependentJob("production-web-child", "production-web-edited"), "0");
  child.depends_on = {edited.id};
  plan_.actions = {edited, created, deleted, child};
  ApplyResult r = Apply();
  EXPECT_EQ(r.failed, 3);
  EXPECT_EQ(r.not_attempted, 1);
  EXPECT_NE(Outcome(r, edited.id).detail.find("changed since the plan"), std::string::npos)
      << Outcome(r, edited.id).detail;
  EXPECT_NE(Outcome(r, created.id).detail.find("was created since the plan"), std::string::npos);
  EXPECT_NE(Outcome(r, deleted.id).detail.find("was deleted since the plan"), std::string::npos);
  EXPECT_EQ(Outcome(r, child.id).state, StepState::kNotAttempted);
  EXPECT_TRUE(target_.chronos.puts().empty());  // nothing was sent
  EXPECT_EQ(target_.chronos.GetJob("production-web-edited")->body["command"], "edited-by-hand");
  EXPECT_FALSE(store_->LastApplied().value().count("chronos-job:production-web-edited"));
}

TEST_F(JobStepsTest, DeletingAJobAlreadyGoneSucceedsAndAWriteAlreadyLiveIsNotResent) {
  json body = ScheduledJob("production-web-same");
  target_.chronos.Seed(body);
  Action gone = JobAction(ActionKind::kJobDelete, ScheduledJob("production-web-gone"),
                          JobDigest(ScheduledJob("production-web-gone")));
  Action same = JobAction(ActionKind::kJobCreate, body, "0");  // live is already what it writes
  plan_.actions = {gone, same};
  ApplyResult r = Apply();
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_TRUE(target_.chronos.deletes().empty());
  EXPECT_TRUE(target_.chronos.puts().empty());
  EXPECT_TRUE(store_->LastApplied().value().at("chronos-job:production-web-gone").deleted);
}

TEST_F(JobStepsTest, AJobChronosDoesNotShowAfterThePostFails) {
  // A dependent job whose parent is missing: Chronos 3.x answers 204 and never shows it.
  class Invisible : public JobTarget {
   public:
    Result<clients::ChronosJob> Job(const std::string& name) override {
      return Status::NotFound("job '" + name + "' does not exist");
    }
  };
  Invisible target;
  Action a = JobAction(ActionKind::kJobCreate, DependentJob("production-web-orphan", "nope"), "0");
  plan_.actions = {a};
  ApplyResult r = ExecutePlan(plan_, target, opts_, records_);
  ASSERT_EQ(r.failed, 1);
  EXPECT_NE(Outcome(r, a.id).detail.find("does not show it"), std::string::npos)
      << Outcome(r, a.id).detail;
  EXPECT_LE(clock_.max_ms(), 7000);
}

// pre-deploy hook → app → post-deploy hook, and another app that depends on the first.
void GatedPlan(Plan* plan, Action* pre, Action* app, Action* post, Action* other) {
  *pre = HookAction("production-web-migrate", "pre-deploy", "/app/production/web");
  *app = AppUpdate("web");
  app->depends_on = {pre->id};
  *post = HookAction("production-web-smoke", "post-deploy", "/app/production/web");
  post->depends_on = {app->id};
  *other = AppUpdate("api");
  other->depends_on = {app->id};
  plan->actions = {*pre, *app, *post, *other};
}

TEST_F(JobStepsTest, HooksRunBeforeAndAfterTheirAppAndSucceed) {
  target_.chronos.Seed(ScheduledJob("production-web-migrate"));
  target_.chronos.Seed(ScheduledJob("production-web-smoke"));
  HaveApp("web");
  HaveApp("api");
  target_.chronos.auto_outcome = FakeChronosClient::Outcome::kSuccess;
  Action pre, app, post, other;
  GatedPlan(&plan_, &pre, &app, &post, &other);
  ApplyResult r = Apply();
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(r.applied, 4);
  EXPECT_LT(target_.Pos("start-job production-web-migrate"),
            target_.Pos("update /app/production/web"));
  EXPECT_LT(target_.Pos("update /app/production/web"),
            target_.Pos("start-job production-web-smoke"));
  EXPECT_TRUE(
      events_.Has("hook-run production-web-migrate: started (pre-deploy of "
                  "/app/production/web; deadline 10m)"));
  EXPECT_TRUE(events_.Has("hook-run production-web-migrate: succeeded in "));
  auto states = JournalStates();
  EXPECT_EQ(states[pre.id], "succeeded");
  EXPECT_EQ(states[post.id], "succeeded");
  // A hook changes no definition: nothing recorded for its job.
  EXPECT_FALSE(store_->LastApplied().value().count("chronos-job:production-web-migrate"));
}

TEST_F(JobStepsTest, AFailedPreDeployHookStopsItsAppAndEverythingAfterIt) {
  target_.chronos.Seed(ScheduledJob("production-web-migrate"));
  target_.chronos.Seed(ScheduledJob("production-web-smoke"));
  HaveApp("web");
  HaveApp("api");
  target_.chronos.auto_outcome = FakeChronosClient::Outcome::kFailure;
  Action pre, app, post, other;
  GatedPlan(&plan_, &pre, &app, &post, &other);
  ApplyResult r = Apply();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.not_attempted, 3);
  const std::string& why = Outcome(r, pre.id).detail;
  EXPECT_NE(why.find("pre-deploy job production-web-migrate failed (error count 1, last error "),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("its output: the sandbox of production-web-migrate"), std::string::npos)
      << why;
  for (const Action* a : {&app, &post, &other}) {
    EXPECT_EQ(Outcome(r, a->id).state, StepState::kNotAttempted) << a->id;
  }
  EXPECT_NE(Outcome(r, app.id).detail.find("hook-run production-web-migrate"), std::string::npos);
  // The app was never written: Marathon still runs the old definition.
  EXPECT_EQ(target_.Pos("update /app/production/web"), std::string::npos);
  EXPECT_EQ(target_.apps["/app/production/web"]["cmd"], "old");
  EXPECT_EQ(target_.Pos("start-job production-web-smoke"), std::string::npos);
  auto states = JournalStates();
  EXPECT_EQ(states[pre.id], "failed");
  EXPECT_EQ(states[app.id], "skipped");
  EXPECT_TRUE(events_.Has("hook-run production-web-migrate: failed: pre-deploy job"));
}

TEST_F(JobStepsTest, AHookWithoutAnOutcomeFailsAtItsDeadline) {
  target_.chronos.Seed(ScheduledJob("production-web-migrate"));
  HaveApp("web");
  target_.chronos.auto_outcome = FakeChronosClient::Outcome::kNone;  // queued for ever
  opts_.hook_deadline = std::chrono::seconds(30);
  Action pre = HookAction("production-web-migrate", "pre-deploy", "/app/production/web");
  Action app = AppUpdate("web");
  app.depends_on = {pre.id};
  plan_.actions = {pre, app};
  ApplyResult r = Apply();
  ASSERT_EQ(r.failed, 1);
  const std::string& why = Outcome(r, pre.id).detail;
  EXPECT_NE(why.find("no outcome within 30s"), std::string::npos) << why;
  EXPECT_NE(why.find("its output: the sandbox of production-web-migrate"), std::string::npos);
  EXPECT_EQ(Outcome(r, app.id).state, StepState::kNotAttempted);
  EXPECT_GE(clock_.max_ms(), 30000);
  EXPECT_LE(clock_.max_ms(), 31000);
  EXPECT_GT(target_.stats_reads.load(), 10);  // followed, not just waited out
}

TEST_F(JobStepsTest, AFailureBeforeThisRunIsNoOutcomeAndADisabledJobIsNotStarted) {
  json failed_before = ScheduledJob("production-web-migrate");
  failed_before["errorCount"] = 4;
  failed_before["lastError"] = "2025-01-01T00:00:00.000Z";
  target_.chronos.Seed(failed_before);
  json disabled = ScheduledJob("production-web-off");
  disabled["disabled"] = true;
  target_.chronos.Seed(disabled);
  target_.chronos.auto_outcome = FakeChronosClient::Outcome::kSuccess;
  Action pre = HookAction("production-web-migrate", "pre-deploy", "/app/production/web");
  Action off = HookAction("production-web-off", "post-deploy", "/app/production/web");
  plan_.actions = {pre, off};
  ApplyResult r = Apply();
  EXPECT_EQ(Outcome(r, pre.id).state, StepState::kApplied) << Outcome(r, pre.id).detail;
  EXPECT_EQ(Outcome(r, off.id).state, StepState::kFailed);
  EXPECT_NE(Outcome(r, off.id).detail.find("is disabled in Chronos"), std::string::npos);
  EXPECT_EQ(target_.Pos("start-job production-web-off"), std::string::npos);
}

TEST_F(JobStepsTest, AHookJobChangedSinceThePlanIsNotStarted) {
  json planned = ScheduledJob("production-web-migrate", "migrate");
  target_.chronos.Seed(ScheduledJob("production-web-migrate", "rm -rf /by-hand"));
  target_.chronos.auto_outcome = FakeChronosClient::Outcome::kSuccess;
  HaveApp("web");
  Action pre = HookAction("production-web-migrate", "pre-deploy", "/app/production/web");
  pre.token = JobDigest(planned);
  Action app = AppUpdate("web");
  app.depends_on = {pre.id};
  plan_.actions = {pre, app};
  ApplyResult r = Apply();
  ASSERT_EQ(r.failed, 1);
  EXPECT_NE(Outcome(r, pre.id).detail.find("changed since the plan was made"), std::string::npos)
      << Outcome(r, pre.id).detail;
  EXPECT_TRUE(target_.chronos.starts().empty());
  EXPECT_EQ(Outcome(r, app.id).state, StepState::kNotAttempted);
}

TEST_F(JobStepsTest, AHookWhoseStartAnswerWasLostIsFollowedToItsOutcome) {
  target_.chronos.Seed(ScheduledJob("production-web-migrate"));
  target_.chronos.auto_outcome = FakeChronosClient::Outcome::kSuccess;
  target_.lose_start_answer = true;
  Action pre = HookAction("production-web-migrate", "pre-deploy", "/app/production/web");
  plan_.actions = {pre};
  ApplyResult r = Apply();
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(target_.chronos.starts().size(), 1u);  // not started twice
  EXPECT_TRUE(events_.Has("the start's answer was lost"));
}

TEST(JobStepsHelpers, AnOutcomeCountsOnlyWhenItIsNewerThanTheBaseline) {
  clients::ChronosJobStats before;
  before.success_count = 3;
  before.last_success = "2026-01-01T00:00:01.000Z";
  before.error_count = 1;
  before.last_error = "2025-01-01T00:00:00.000Z";
  EXPECT_EQ(OutcomeSince(before, before), RunOutcome::kPending);
  auto ok = before;
  ok.success_count = 4;
  ok.last_success = "2026-01-01T00:05:00.000Z";
  EXPECT_EQ(OutcomeSince(before, ok), RunOutcome::kSucceeded);
  auto bad = before;
  bad.error_count = 2;
  bad.last_error = "2026-01-01T00:05:00.000Z";
  EXPECT_EQ(OutcomeSince(before, bad), RunOutcome::kFailed);
  // The job was re-posted (counts back to 0), then a run failed: its new lastError tells.
  clients::ChronosJobStats reset;
  reset.last_error = "2026-01-01T00:06:00.000Z";
  reset.error_count = 1;
  EXPECT_EQ(OutcomeSince(before, reset), RunOutcome::kFailed);
  // Both moved: the later one counts.
  auto both = bad;
  both.success_count = 4;
  both.last_success = "2026-01-01T00:07:00.000Z";
  EXPECT_EQ(OutcomeSince(before, both), RunOutcome::kSucceeded);
  EXPECT_EQ(StatsFromJson(StatsToJson(ok)).last_success, ok.last_success);
  EXPECT_EQ(StatsFromJson(StatsToJson(ok)).success_count, 4);
}

TEST_F(JobStepsTest, SkipHooksLeavesTheHooksOfASavedPlanOutAndStillDeploys) {
  target_.chronos.Seed(ScheduledJob("production-web-migrate"));
  target_.chronos.Seed(ScheduledJob("production-web-smoke"));
  HaveApp("web");
  HaveApp("api");
  target_.chronos.auto_outcome = FakeChronosClient::Outcome::kFailure;  // would stop the app
  opts_.skip_hooks = true;
  Action pre, app, post, other;
  GatedPlan(&plan_, &pre, &app, &post, &other);
  ApplyResult r = Apply();
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(r.applied, 2);
  EXPECT_EQ(r.skipped, 2);
  EXPECT_TRUE(Outcome(r, pre.id).skipped);
  EXPECT_NE(Outcome(r, pre.id).detail.find("--skip-hooks"), std::string::npos);
  EXPECT_TRUE(target_.chronos.starts().empty());
  EXPECT_EQ(target_.apps["/app/production/web"]["cmd"], "new");
  EXPECT_NE(r.Summary().find("2 skipped (--skip-hooks)"), std::string::npos) << r.Summary();
  EXPECT_EQ(r.ToJson()["actions"][0]["state"], "skipped");
  auto states = JournalStates();
  EXPECT_EQ(states[pre.id], "skipped");
  EXPECT_EQ(states[post.id], "skipped");
  EXPECT_EQ(states[app.id], "succeeded");
}

TEST_F(JobStepsTest, WithoutChronosEveryJobCallIsRefusedSayingSo) {
  class NoChronos : public JobTarget {
   public:
    Status PutJob(const json& body) override { return ApplyTarget::PutJob(body); }
    Result<clients::ChronosJob> Job(const std::string& name) override {
      return ApplyTarget::Job(name);
    }
  };
  NoChronos target;
  Action a = JobAction(ActionKind::kJobCreate, ScheduledJob("production-web-x"), "0");
  plan_.actions = {a};
  ApplyResult r = ExecutePlan(plan_, target, opts_, records_);
  ASSERT_EQ(r.failed, 1);
  EXPECT_NE(Outcome(r, a.id).detail.find("has no Chronos"), std::string::npos);
}

// A killed apply left one entry of each kind open.
TEST_F(JobStepsTest, InterruptedJobWritesAndHookRunsAreSettledAgainstChronos) {
  json put_done = ScheduledJob("production-web-done");
  json put_never = ScheduledJob("production-web-never", "new");
  target_.chronos.Seed(put_done);
  target_.chronos.Seed(ScheduledJob("production-web-never", "old"));
  json ran = ScheduledJob("production-web-ran");
  json failed = ScheduledJob("production-web-failed");
  json running = ScheduledJob("production-web-running");
  for (const json* j : {&ran, &failed, &running}) target_.chronos.Seed(*j);
  clients::ChronosJobStats zero;
  auto open = [&](const std::string& kind, const std::string& name, const json& expect,
                  const json& record = json()) {
    store::JournalEntry e;
    e.run_id = run_;
    e.action_id = (kind == "hook-run" ? "hook:" : "job:") + name;
    e.resource = "chronos-job:" + name;
    e.kind = kind;
    e.state = "started";
    json d = {{"target", name}, {"env", "production"}, {"service", "web"}, {"expect", expect}};
    if (!record.is_null()) d["record"] = record;
    e.detail = d.dump();
    ASSERT_TRUE(store_->JournalStart(e).ok());
  };
  open("job-put", "production-web-done", json{{"digest", JobDigest(put_done)}},
       NormalizeJob(put_done));
  open("job-put", "production-web-never", json{{"digest", JobDigest(put_never)}},
       NormalizeJob(put_never));
  open("job-delete", "production-web-deleted", json{{"absent", true}});
  json before = {{"hook", "pre-deploy"}, {"before", StatsToJson(zero)}};
  open("hook-run", "production-web-ran", before);
  open("hook-run", "production-web-failed", before);
  open("hook-run", "production-web-running", before);
  ASSERT_TRUE(store_->FinishRun(run_, "interrupted", "{}").ok());
  // Since then: one hook job succeeded, one failed, one is still running.
  target_.chronos.auto_outcome = FakeChronosClient::Outcome::kSuccess;
  ASSERT_TRUE(target_.chronos.StartJob("production-web-ran", "").ok());
  target_.chronos.auto_outcome = FakeChronosClient::Outcome::kFailure;
  ASSERT_TRUE(target_.chronos.StartJob("production-web-failed", "").ok());

  auto lines = RecoverInterrupted(model::LiveState{}, target_, records_, opts_);
  ASSERT_TRUE(lines.ok()) << lines.status().message();
  ASSERT_EQ(lines->size(), 6u);
  auto states = JournalStates();
  EXPECT_EQ(states["job:production-web-done"], "succeeded");
  EXPECT_EQ(states["job:production-web-never"], "failed");
  EXPECT_EQ(states["job:production-web-deleted"], "succeeded");
  EXPECT_EQ(states["hook:production-web-ran"], "succeeded");
  EXPECT_EQ(states["hook:production-web-failed"], "failed");
  EXPECT_EQ(states["hook:production-web-running"], "failed");
  auto applied = store_->LastApplied().value();
  EXPECT_TRUE(applied.count("chronos-job:production-web-done"));
  EXPECT_FALSE(applied.count("chronos-job:production-web-never"));
  std::string all;
  for (const auto& l : *lines) all += l + "\n";
  EXPECT_NE(all.find("production-web-running: interrupted: the hook's outcome is unknown; the "
                     "app was not deployed"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("production-web-failed: interrupted; the job has failed since"),
            std::string::npos)
      << all;
  // Settled once: a second pass finds nothing.
  EXPECT_TRUE(RecoverInterrupted(model::LiveState{}, target_, records_, opts_)->empty());
}

TEST_F(JobStepsTest, AnInterruptWhileAHookRunsLeavesItOpenForTheNextApply) {
  target_.chronos.Seed(ScheduledJob("production-web-migrate"));
  HaveApp("web");
  std::atomic<int> polls{0};
  opts_.concurrency = 1;
  opts_.interrupted = [&] { return ++polls > 3; };
  Action pre = HookAction("production-web-migrate", "pre-deploy", "/app/production/web");
  Action app = AppUpdate("web");
  app.depends_on = {pre.id};
  plan_.actions = {pre, app};
  ApplyResult r = Apply();
  EXPECT_EQ(Outcome(r, pre.id).state, StepState::kInterrupted);
  EXPECT_EQ(Outcome(r, app.id).state, StepState::kNotAttempted);
  EXPECT_EQ(JournalStates()[pre.id], "started");
  EXPECT_EQ(target_.chronos.starts().size(), 1u);
}

TEST(JobStepsDryRun, RecordsJobCallsAndHooksSucceedAtOnce) {
  DryRunTarget dry(model::LiveState{});
  clients::ChronosJob live = *clients::ParseChronosJob(ScheduledJob("production-web-old"));
  dry.SetLiveJobs({{"production-web-old", live}});
  Plan p;
  Action job = JobAction(ActionKind::kJobCreate, ScheduledJob("production-web-migrate"), "0");
  Action dep = JobAction(ActionKind::kJobCreate,
                         DependentJob("production-web-after", "production-web-migrate"), "0");
  dep.depends_on = {job.id};
  Action hook = HookAction("production-web-migrate", "pre-deploy", "/app/production/web");
  hook.depends_on = {job.id};
  Action del =
      JobAction(ActionKind::kJobDelete, ScheduledJob("production-web-old"), JobDigest(live.body));
  p.actions = {job, dep, hook, del};
  ApplyRecords records;
  ApplyOptions o;
  o.poll_interval = std::chrono::milliseconds(1);
  ApplyResult r = ExecutePlan(p, dry, o, records);
  ASSERT_TRUE(r.ok()) << r.Summary();
  auto calls = dry.calls();
  auto at = [&](const std::string& c) {
    return std::find(calls.begin(), calls.end(), c) - calls.begin();
  };
  EXPECT_LT(at("POST /v1/scheduler/iso8601 production-web-migrate"),
            at("POST /v1/scheduler/dependency production-web-after"));
  EXPECT_LT(at("POST /v1/scheduler/iso8601 production-web-migrate"),
            at("PUT /v1/scheduler/job/production-web-migrate"));
  EXPECT_LT(at("DELETE /v1/scheduler/job/production-web-old"),
            static_cast<std::ptrdiff_t>(calls.size()));
  auto waves = ScheduleWaves(p);
  ASSERT_EQ(waves.size(), 2u);
  EXPECT_NE(std::find(waves[1].begin(), waves[1].end(),
                      "hook-run production-web-migrate, then wait for its success or failure"),
            waves[1].end());
}

}  // namespace
}  // namespace galley::engine
