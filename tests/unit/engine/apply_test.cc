// SPDX-License-Identifier: Apache-2.0
// The apply executor against a scripted fake target and a fake clock: dependency order,
// the concurrency bound, failures stopping dependants, deadlines cancelling deployments,
// locked apps, back-off, rollback, secrets, journal and records, and the pure helpers
// (stale plans, safety rails, waves, crash recovery).
#include "engine/apply.h"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/digest.h"
#include "engine/desired.h"
#include "engine/failed_deploys.h"
#include "engine/jobs.h"
#include "engine/normalize.h"
#include "engine/ownership.h"
#include "support/fake_clock.h"
#include "support/wait.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;
using clients::KvTxnOp;

// A fake Marathon + Consul. An app written becomes healthy after `polls_to_healthy` reads,
// unless its deployment is scripted as stuck (`stuck_deployments`, by deployment id: health
// is never inferred from the body). Cancelling a deployment rolls the app back to the
// definition and version it had before, as Marathon does. KV transactions follow Consul's
// verbs: set/delete always apply, cas/delete-cas/check-index compare the ModifyIndex (0 =
// absent), and a transaction commits whole or not at all.
class FakeTarget : public ApplyTarget {
 public:
  struct AppState {
    json body;
    int instances = 1;
    int reads_left = 0;  // reads until the deployment finishes
    std::string deployment;
    std::string version = "v0";
    std::shared_ptr<AppState> before;  // what the deployment replaced (null: it created the app)
  };

  Result<clients::KvTxnResult> KvTxn(const std::vector<KvTxnOp>& ops) override {
    std::lock_guard<std::mutex> l(mu);
    Log("txn " + std::to_string(ops.size()));
    ++txns;
    clients::KvTxnResult r;
    for (size_t i = 0; i < ops.size(); ++i) {
      const auto& op = ops[i];
      auto it = kv.find(op.key);
      uint64_t have = it == kv.end() ? 0 : it->second.second;
      bool compares = op.verb == KvTxnOp::Verb::kCas || op.verb == KvTxnOp::Verb::kDeleteCas ||
                      op.verb == KvTxnOp::Verb::kCheckIndex;
      if (compares && op.index != have) {
        r.errors.push_back("op " + std::to_string(i) + ": index is stale");
        r.failed_ops.push_back(static_cast<int>(i));
      }
    }
    if (!r.errors.empty()) return r;
    for (const auto& op : ops) {
      if (op.verb == KvTxnOp::Verb::kCheckIndex) continue;
      if (op.verb == KvTxnOp::Verb::kDeleteCas || op.verb == KvTxnOp::Verb::kDelete) {
        kv.erase(op.key);
      } else {
        kv[op.key] = {op.value, ++index};
        r.indexes[op.key] = index;
      }
    }
    r.committed = true;
    return r;
  }
  Result<std::optional<std::string>> KvGet(const std::string& key) override {
    std::lock_guard<std::mutex> l(mu);
    auto it = kv.find(key);
    if (it == kv.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second.first);
  }
  Result<clients::MarathonDeploymentResult> CreateApp(const json& body, bool force) override {
    std::lock_guard<std::mutex> l(mu);
    std::string id = body["id"];
    Log("create " + id + (force ? " force" : ""));
    if (apps.count(id)) return Status::AlreadyExists("exists");
    return Deploy(id, body);
  }
  Result<clients::MarathonDeploymentResult> UpdateApp(const std::string& id, const json& body,
                                                      bool force) override {
    std::lock_guard<std::mutex> l(mu);
    Log("update " + id + (force ? " force" : ""));
    if (!force && locked_writes > 0) {
      --locked_writes;
      return Status::Conflict("App is locked by one or more deployments: other-1");
    }
    if (exhausted_writes > 0) {
      --exhausted_writes;
      return Status::ResourceExhausted("Max number (100) of running deployments is achieved");
    }
    if (reject.count(id)) return Status::InvalidArgument("422 bad definition");
    return Deploy(id, body);
  }
  Result<clients::MarathonDeploymentResult> ScaleApp(const std::string& id, int n,
                                                     bool force) override {
    std::lock_guard<std::mutex> l(mu);
    Log("scale " + id + " " + std::to_string(n) + (force ? " force" : ""));
    json body = apps.count(id) ? apps[id].body : json{{"id", id}};
    body["instances"] = n;
    return Deploy(id, body);
  }
  Result<clients::MarathonDeploymentResult> DeleteApp(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu);
    Log("delete " + id);
    if (!apps.count(id)) return Status::NotFound("marathon: app '" + id + "' does not exist");
    apps.erase(id);
    return clients::MarathonDeploymentResult{"d-del", "v"};
  }
  Result<clients::MarathonDeploymentResult> RestartApp(const std::string& id, bool force) override {
    std::lock_guard<std::mutex> l(mu);
    Log("restart " + id + (force ? " force" : ""));
    if (!apps.count(id)) return Status::NotFound("marathon: app '" + id + "' does not exist");
    json body = apps[id].body;
    return Deploy(id, body);
  }
  // Marathon rolls the app back to what it was before the cancelled deployment.
  Result<clients::MarathonDeploymentResult> CancelDeployment(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu);
    Log("cancel " + id);
    for (auto& [app_id, s] : apps) {
      if (s.deployment != id || (s.reads_left == 0 && !stuck_deployments.count(id))) continue;
      if (!s.before)
        return clients::MarathonDeploymentResult{"d-rollback",
                                                 "v"};  // created: stays, scaled to 0 in Marathon
      AppState back = *s.before;
      s = back;
      return clients::MarathonDeploymentResult{"d-rollback", s.version};
    }
    return Status::NotFound("no deployment " + id);
  }
  Result<json> AppVersion(const std::string& id, const std::string& version) override {
    std::lock_guard<std::mutex> l(mu);
    Log("version " + id + " " + version);
    auto v = versions.find(id + "@" + version);
    if (v != versions.end()) return v->second;
    return Status::NotFound("marathon: app '" + id + "' has no version " + version);
  }
  Result<model::LiveApp> App(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu);
    ++reads;
    auto it = apps.find(id);
    if (it == apps.end()) return Status::NotFound("marathon: app '" + id + "' does not exist");
    AppState& s = it->second;
    model::LiveApp app;
    app.id = id;
    app.body = s.body;
    app.instances = s.instances;
    app.version = s.version;
    bool stuck = stuck_deployments.count(s.deployment) > 0;
    if (s.reads_left > 0 || stuck) {
      if (s.reads_left > 0) --s.reads_left;
      app.deployment_ids = {s.deployment};
      app.tasks_running = 0;
    } else {
      app.tasks_running = app.tasks_healthy = s.instances;
      if (in_flight.count(id)) {
        in_flight.erase(id);
      }
    }
    return app;
  }
  Result<std::vector<clients::MarathonDeployment>> Deployments() override {
    std::lock_guard<std::mutex> l(mu);
    std::vector<clients::MarathonDeployment> out;
    if (blocking_polls > 0) {
      --blocking_polls;
      clients::MarathonDeployment d;
      d.id = "other-1";
      d.affected_apps = {"/app/production/web"};
      out.push_back(d);
    }
    return out;
  }
  Status PutRecord(const std::string& key, const std::string& value) override {
    std::lock_guard<std::mutex> l(mu);
    records[key] = value;
    ++record_puts;
    return Status::Ok();
  }

  Result<clients::MarathonDeploymentResult> Deploy(const std::string& id, const json& body) {
    AppState s;
    if (auto old = apps.find(id); old != apps.end())
      s.before = std::make_shared<AppState>(old->second);
    s.body = body;
    s.instances = body.value("instances", 1);
    s.reads_left = polls_to_healthy;
    s.deployment = "d-" + std::to_string(++deployments);
    s.version = "v" + std::to_string(deployments);
    versions[id + "@" + s.version] = body;
    apps[id] = s;
    in_flight.insert(id);
    max_in_flight = std::max<int>(max_in_flight, static_cast<int>(in_flight.size()));
    return clients::MarathonDeploymentResult{s.deployment, "v" + std::to_string(deployments)};
  }
  void Log(const std::string& s) { calls.push_back(s); }
  // An app that is live, healthy, at `version`.
  void Have(const std::string& id, const std::string& version, const json& body = json()) {
    AppState s;
    s.body = body.is_null() ? json{{"id", id}, {"instances", 2}} : body;
    s.instances = s.body.value("instances", 2);
    s.version = version;
    versions[id + "@" + version] = s.body;
    apps[id] = s;
  }
  size_t Pos(const std::string& call) const {
    for (size_t i = 0; i < calls.size(); ++i) {
      if (calls[i] == call) return i;
    }
    return std::string::npos;
  }

  std::mutex mu;
  std::map<std::string, AppState> apps;
  std::map<std::string, std::pair<std::string, uint64_t>> kv;
  std::map<std::string, std::string> records;
  std::vector<std::string> calls;
  std::set<std::string> stuck_deployments, reject, in_flight;
  std::map<std::string, json> versions;  // "id@version" → the definition, for AppVersion
  int polls_to_healthy = 2, locked_writes = 0, exhausted_writes = 0, blocking_polls = 0;
  int deployments = 0, txns = 0, reads = 0, max_in_flight = 0, record_puts = 0;
  uint64_t index = 100;
};

json Body(const std::string& id, int instances = 2) {
  return json{{"id", id}, {"instances", instances}, {"cpus", 0.1}, {"mem", 64.0}};
}

Action AppAction(ActionKind kind, const std::string& svc, const std::string& token = "0",
                 int instances = 2) {
  Action a;
  a.kind = kind;
  a.service = svc;
  a.env = "production";
  a.target = "/app/production/" + svc;
  a.id = "app:" + a.target;
  a.token = token;
  if (kind != ActionKind::kAppDelete) a.desired = Body(a.target, instances);
  return a;
}

Action KvPut(const std::string& svc, const std::string& key, const std::string& value,
             const std::string& token = "0") {
  Action a;
  a.kind = ActionKind::kKvPut;
  a.service = svc;
  a.env = "production";
  a.target = "app/production/" + svc + "/" + key;
  a.id = "kv:" + a.target;
  a.token = token;
  a.desired = json{{"value", value}};
  return a;
}

class ApplyTest : public ::testing::Test {
 protected:
  ApplyTest() {
    auto s = store::OpenSqliteStore(":memory:");
    EXPECT_TRUE(s.ok());
    store_ = std::move(s).value();
    run_ = store_->BeginRun("apply", "cli", "c0ffee", "me@host").value();
    records_.store = store_.get();
    records_.run_id = run_;
    records_.commit = "c0ffee";
    records_.who = "me@host";
    records_.applied_prefix = "galley/p/applied/";
    records_.hmac_key = "k";
    // A fake clock: sleeping moves time on at once, for the sleeping worker only.
    opts_.clock = &clock_;
    opts_.poll_interval = std::chrono::milliseconds(500);
  }
  ApplyResult Apply() { return ExecutePlan(plan_, fake_, opts_, records_); }
  const ActionOutcome& Outcome(const ApplyResult& r, const std::string& id) {
    for (const auto& o : r.outcomes) {
      if (o.action_id == id) return o;
    }
    ADD_FAILURE() << "no outcome for " << id;
    return r.outcomes.at(0);
  }

  FakeTarget fake_;
  Plan plan_;
  ApplyOptions opts_;
  ApplyRecords records_;
  std::unique_ptr<store::StateStore> store_;
  int64_t run_ = 0;
  testing::FakeClock clock_;
};

TEST_F(ApplyTest, KvIsWrittenBeforeTheAppThatReadsItAndEverythingIsRecorded) {
  Action kv = KvPut("web", "LOG_LEVEL", "info");
  Action app = AppAction(ActionKind::kAppCreate, "web");
  app.depends_on = {kv.id};
  plan_.actions = {kv, app};
  ApplyResult r = Apply();
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(r.applied, 2);
  EXPECT_LT(fake_.Pos("txn 1"), fake_.Pos("create /app/production/web"));
  EXPECT_EQ(fake_.kv["app/production/web/LOG_LEVEL"].first, "info");

  // The store's last-applied records: the normalised body and the value's HMAC.
  auto applied = store_->LastApplied().value();
  ASSERT_TRUE(applied.count("marathon-app:/app/production/web"));
  EXPECT_EQ(json::parse(applied["marathon-app:/app/production/web"].body),
            NormalizeApp(app.desired));
  EXPECT_EQ(applied["consul-kv:app/production/web/LOG_LEVEL"].body, HmacSha256Hex("k", "info"));
  EXPECT_EQ(applied["consul-kv:app/production/web/LOG_LEVEL"].commit, "c0ffee");
  // galley's record in Consul carries both, for runners with an empty store.
  json rec = json::parse(fake_.records.at("galley/p/applied/production/web"));
  EXPECT_EQ(rec["app"], NormalizeApp(app.desired));
  EXPECT_EQ(rec["kv"]["app/production/web/LOG_LEVEL"], HmacSha256Hex("k", "info"));
  // The journal: both started and succeeded.
  auto journal = store_->Journal(run_).value();
  ASSERT_EQ(journal.size(), 2u);
  for (const auto& e : journal) EXPECT_EQ(e.state, "succeeded") << e.action_id;
}

TEST_F(ApplyTest, AFailureStopsOnlyItsDependants) {
  Action kv = KvPut("web", "LOG_LEVEL", "info", "7");  // live index is not 7: a hand edit
  fake_.kv["app/production/web/LOG_LEVEL"] = {"debug", 9};
  Action app = AppAction(ActionKind::kAppUpdate, "web", "v-old");
  app.depends_on = {kv.id};
  Action other = AppAction(ActionKind::kAppCreate, "api");
  plan_.actions = {kv, app, other};
  ApplyResult r = Apply();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.applied, 1);
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.not_attempted, 1);
  EXPECT_EQ(Outcome(r, kv.id).state, StepState::kFailed);
  EXPECT_NE(Outcome(r, kv.id).detail.find("conflict"), std::string::npos);
  EXPECT_EQ(Outcome(r, app.id).state, StepState::kNotAttempted);
  EXPECT_EQ(Outcome(r, other.id).state, StepState::kApplied);
  // The hand edit survives; the dependant was never sent.
  EXPECT_EQ(fake_.kv["app/production/web/LOG_LEVEL"].first, "debug");
  EXPECT_EQ(fake_.Pos("update /app/production/web"), std::string::npos);
  EXPECT_NE(r.Summary().find("1 applied, 1 failed, 1 not attempted"), std::string::npos);
  auto journal = store_->Journal(run_).value();
  std::map<std::string, std::string> states;
  for (const auto& e : journal) states[e.action_id] = e.state;
  EXPECT_EQ(states[kv.id], "failed");
  EXPECT_EQ(states[app.id], "skipped");
  EXPECT_EQ(states[other.id], "succeeded");
}

TEST_F(ApplyTest, TheConcurrencyBoundHolds) {
  for (int i = 0; i < 8; ++i)
    plan_.actions.push_back(AppAction(ActionKind::kAppCreate, "s" + std::to_string(i)));
  opts_.concurrency = 3;
  fake_.polls_to_healthy = 3;
  // Real sleeps, so the workers overlap.
  opts_.clock = nullptr;
  opts_.poll_interval = std::chrono::milliseconds(5);
  ApplyResult r = Apply();
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_LE(fake_.max_in_flight, 3);
  EXPECT_GE(fake_.max_in_flight, 2);  // and they did run side by side
}

TEST_F(ApplyTest, TheDeadlineCancelsTheDeploymentSoMarathonRollsBack) {
  Action app = AppAction(ActionKind::kAppUpdate, "web", "v-old");
  fake_.Have(app.target, "v-old");
  fake_.polls_to_healthy = 1000000;
  opts_.app_deadline = std::chrono::seconds(30);
  plan_.actions = {app};
  ApplyResult r = Apply();
  ASSERT_EQ(r.failed, 1);
  const auto& o = Outcome(r, app.id);
  EXPECT_NE(o.detail.find("not healthy within 30s"), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find("cancelled"), std::string::npos) << o.detail;
  EXPECT_NE(fake_.Pos("cancel d-1"), std::string::npos);
  EXPECT_GE(clock_.max_ms(), 30000);
  EXPECT_LE(clock_.max_ms(), 31000);
  // Not recorded as applied.
  EXPECT_FALSE(store_->LastApplied().value().count("marathon-app:/app/production/web"));
}

TEST_F(ApplyTest, AFailedDeployIsJournaledWithTheDigestOfWhatItDeployed) {
  Action app = AppAction(ActionKind::kAppUpdate, "web", "v-old");
  Action refused = AppAction(ActionKind::kAppUpdate, "api", "v-old");
  fake_.Have(app.target, "v-old");
  fake_.Have(refused.target, "v-old");
  fake_.reject.insert(refused.target);  // Marathon refuses the write: nothing deployed
  fake_.polls_to_healthy = 1000000;
  opts_.app_deadline = std::chrono::seconds(5);
  plan_.actions = {app, refused};
  ApplyResult r = Apply();
  ASSERT_EQ(r.failed, 2);
  auto latest = store_->LatestFinishedJournal({ResourceKeyOf(app), ResourceKeyOf(refused)}).value();
  ASSERT_EQ(latest.size(), 2u);
  json detail = json::parse(latest.at(ResourceKeyOf(app)).detail);
  EXPECT_EQ(detail["desired_digest"], DesiredDigest(app)) << detail;
  EXPECT_FALSE(json::parse(latest.at(ResourceKeyOf(refused)).detail).contains("desired_digest"));
  // The next plan of the same change is held; the refused write is not.
  Plan next = plan_;
  AnnotateFailures(next, latest);
  EXPECT_TRUE(next.actions[0].last_failure.has_value());
  EXPECT_FALSE(next.actions[1].last_failure.has_value());
}

TEST_F(ApplyTest, ARequestedRestartUsesMarathonsRestartAndRecordsNothingAsApplied) {
  Action app = AppAction(ActionKind::kAppRestart, "web", "v-old");
  app.reason = Reason::kRequested;
  fake_.Have(app.target, "v-old", app.desired);
  plan_.actions = {app};
  ApplyResult r = Apply();
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_NE(fake_.Pos("restart /app/production/web"), std::string::npos);
  EXPECT_EQ(fake_.Pos("update /app/production/web"), std::string::npos);
  EXPECT_FALSE(store_->LastApplied().value().count(ResourceKeyOf(app)));
  EXPECT_TRUE(fake_.records.empty());
  auto journal = store_->Journal(run_).value();
  ASSERT_EQ(journal.size(), 1u);
  EXPECT_EQ(journal[0].kind, "restart");
  EXPECT_EQ(journal[0].state, "succeeded");
}

TEST_F(ApplyTest, ALockedAppIsWaitedForOrSuperseded) {
  plan_.actions = {AppAction(ActionKind::kAppUpdate, "web", "v-old")};
  fake_.Have("/app/production/web", "v-old");
  fake_.locked_writes = 1;
  fake_.blocking_polls = 3;
  ApplyResult r = Apply();
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(fake_.calls[0], "update /app/production/web");
  EXPECT_EQ(fake_.calls[1], "update /app/production/web");  // after the other deployment ended
  EXPECT_EQ(fake_.blocking_polls, 0);

  FakeTarget forced;
  forced.Have("/app/production/web", "v-old");
  forced.locked_writes = 5;
  opts_.force = true;
  ApplyResult f = ExecutePlan(plan_, forced, opts_, records_);
  ASSERT_TRUE(f.ok()) << f.Summary();
  EXPECT_EQ(forced.calls[0], "update /app/production/web force");
}

TEST_F(ApplyTest, TooManyDeploymentsBacksOff) {
  plan_.actions = {AppAction(ActionKind::kAppUpdate, "web", "v-old")};
  fake_.Have("/app/production/web", "v-old");
  fake_.exhausted_writes = 2;
  ApplyResult r = Apply();
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(std::count(fake_.calls.begin(), fake_.calls.end(), "update /app/production/web"), 3);
  EXPECT_GE(clock_.max_ms(), 3000);  // 1 s then 2 s
}

TEST_F(ApplyTest, CreateOfAnAppSomeoneElseCreatedIsAConflictAndDeleteOfAMissingOneSucceeds) {
  // Created by hand after the plan was made: not taken over.
  fake_.Have("/app/production/web", "v-hand");
  plan_.actions = {AppAction(ActionKind::kAppCreate, "web"),
                   AppAction(ActionKind::kAppDelete, "gone", "v1")};
  ApplyResult r = Apply();
  EXPECT_EQ(r.failed, 1);
  EXPECT_NE(Outcome(r, "app:/app/production/web").detail.find("created since the plan was made"),
            std::string::npos)
      << Outcome(r, "app:/app/production/web").detail;
  EXPECT_EQ(fake_.Pos("create /app/production/web"), std::string::npos);
  EXPECT_EQ(fake_.Pos("update /app/production/web"), std::string::npos);
  auto applied = store_->LastApplied().value();
  EXPECT_TRUE(applied.at("marathon-app:/app/production/gone").deleted);
}

TEST_F(ApplyTest, AHandChangeSinceThePlanIsNotOverwritten) {
  Action app = AppAction(ActionKind::kAppUpdate, "web", "v-planned");
  fake_.Have(app.target, "v-scaled-by-hand");
  plan_.actions = {app};
  ApplyResult r = Apply();
  EXPECT_EQ(r.failed, 1);
  EXPECT_NE(Outcome(r, app.id).detail.find(
                "changed since the plan was made (version v-planned → v-scaled-by-hand)"),
            std::string::npos)
      << Outcome(r, app.id).detail;
  EXPECT_TRUE(fake_.calls.empty()) << fake_.calls[0];
}

TEST_F(ApplyTest, ARestartThatMovedTheVersionButNotTheDefinitionIsNoConflict) {
  // A wrapper restarted the app after its keys changed: new version, same definition.
  json live_body = Body("/app/production/web", 2);
  Action app = AppAction(ActionKind::kAppUpdate, "web", "v-planned", 3);
  app.live_digest = LiveDigest(live_body);
  fake_.Have(app.target, "v-restarted", live_body);
  plan_.actions = {app};
  ApplyResult r = Apply();
  EXPECT_TRUE(r.ok()) << r.Summary();
  // A definition that changed is a conflict.
  FakeTarget changed;
  changed.Have(app.target, "v-restarted", Body("/app/production/web", 7));
  ApplyResult c = ExecutePlan(plan_, changed, opts_, records_);
  EXPECT_EQ(c.failed, 1);
  EXPECT_TRUE(changed.calls.empty());
}

TEST_F(ApplyTest, AWriteWhoseAnswerWasLostButReachedMarathonIsFollowed) {
  struct Lost : FakeTarget {
    Result<clients::MarathonDeploymentResult> UpdateApp(const std::string& id, const json& body,
                                                        bool force) override {
      (void)FakeTarget::UpdateApp(id, body, force);                   // Marathon took it...
      return Status::Timeout("marathon: PUT /v2/apps/x: timed out");  // ...the answer never came
    }
  } lost;
  Action app = AppAction(ActionKind::kAppUpdate, "web", "v1");
  lost.Have(app.target, "v1");
  plan_.actions = {app};
  ApplyResult r = ExecutePlan(plan_, lost, opts_, records_);
  EXPECT_TRUE(r.ok()) << r.Summary();
  EXPECT_TRUE(store_->LastApplied().value().count("marathon-app:/app/production/web"));
}

TEST_F(ApplyTest, AnExceptionInAWorkerLeavesTheActionForTheNextApply) {
  struct Throwing : FakeTarget {
    Result<model::LiveApp> App(const std::string& id) override {
      if (deployments > 0) throw std::runtime_error("boom");
      return FakeTarget::App(id);
    }
  } throwing;
  plan_.actions = {AppAction(ActionKind::kAppCreate, "web")};
  ApplyResult r = ExecutePlan(plan_, throwing, opts_, records_);  // the process survives
  EXPECT_EQ(r.interrupted, 1);
  EXPECT_NE(r.outcomes[0].detail.find("internal error: boom"), std::string::npos)
      << r.outcomes[0].detail;
  auto entries = store_->Journal(run_).value();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].state, "started");  // open: the next apply settles it
}

TEST_F(ApplyTest, AResentCreateThatReachedMarathonIsOurs) {
  // The transport resent the POST after the first one created the app.
  Action app = AppAction(ActionKind::kAppCreate, "web");
  plan_.actions = {app};
  struct Resent : FakeTarget {
    Result<clients::MarathonDeploymentResult> CreateApp(const json& body, bool force) override {
      (void)FakeTarget::CreateApp(body, force);
      return Status::AlreadyExists("An app with id [/app/production/web] already exists.");
    }
  } resent;
  ApplyResult r = ExecutePlan(plan_, resent, opts_, records_);
  EXPECT_TRUE(r.ok()) << r.Summary();
}

TEST_F(ApplyTest, ATransactionWhoseAnswerWasLostButCommittedCounts) {
  struct Lost : FakeTarget {
    Result<clients::KvTxnResult> KvTxn(const std::vector<KvTxnOp>& ops) override {
      (void)FakeTarget::KvTxn(ops);  // committed...
      return Status::Unavailable(
          "consul: PUT /v1/txn: connection reset");  // ...but the answer was lost
    }
  } lost;
  plan_.actions = {KvPut("web", "A", "1"), KvPut("web", "B", "2")};
  ApplyResult r = ExecutePlan(plan_, lost, opts_, records_);
  EXPECT_TRUE(r.ok()) << r.Summary();
  // Not committed and not there: a failure.
  struct Failing : FakeTarget {
    Result<clients::KvTxnResult> KvTxn(const std::vector<KvTxnOp>&) override {
      return Status::Unavailable("consul: PUT /v1/txn: connection reset");
    }
  } failing;
  ApplyResult f = ExecutePlan(plan_, failing, opts_, records_);
  EXPECT_EQ(f.failed, 2);
}

TEST_F(ApplyTest, RollbackPutsAFailedAppBackToItsPlannedVersion) {
  Action app = AppAction(ActionKind::kAppUpdate, "web", "v-old");
  // Marathon's stored version carries read-only fields the rollback must not send back.
  fake_.Have(app.target, "v-old",
             json{{"id", app.target},
                  {"instances", 1},
                  {"version", "v-old"},
                  {"labels", {{"old", "yes"}}}});
  fake_.stuck_deployments.insert("d-1");  // the update never gets healthy; the rollback (d-2) does
  opts_.app_deadline = std::chrono::seconds(10);
  opts_.rollback_on_failure = true;
  plan_.actions = {app};
  ApplyResult r = Apply();
  ASSERT_EQ(r.failed, 1);
  EXPECT_TRUE(Outcome(r, app.id).rolled_back);
  EXPECT_NE(fake_.Pos("version /app/production/web v-old"), std::string::npos);
  EXPECT_NE(fake_.Pos("update /app/production/web force"), std::string::npos);
  EXPECT_EQ(fake_.apps["/app/production/web"].body["labels"]["old"], "yes");
  EXPECT_FALSE(fake_.apps["/app/production/web"].body.contains("version"));
  EXPECT_EQ(fake_.apps["/app/production/web"].deployment, "d-2");  // the rollback's, healthy
}

TEST_F(ApplyTest, CancellingAStuckDeploymentRollsTheAppBackInMarathon) {
  Action app = AppAction(ActionKind::kAppUpdate, "web", "v-old", 5);
  fake_.Have(app.target, "v-old");
  fake_.stuck_deployments.insert("d-1");
  opts_.app_deadline = std::chrono::seconds(5);
  plan_.actions = {app};
  ApplyResult r = Apply();
  ASSERT_EQ(r.failed, 1);
  EXPECT_NE(fake_.Pos("cancel d-1"), std::string::npos);
  // Without --rollback galley writes nothing more; Marathon's own rollback restored the app.
  EXPECT_EQ(fake_.apps["/app/production/web"].version, "v-old");
  EXPECT_EQ(fake_.apps["/app/production/web"].instances, 2);
}

TEST_F(ApplyTest, KvSetAndDeleteApplyWhateverTheIndexWhileCasComparesIt) {
  fake_.kv["a"] = {"1", 7};
  fake_.kv["b"] = {"2", 8};
  // Set and delete ignore the index; a failing check-index aborts the whole transaction.
  auto r = fake_.KvTxn({{KvTxnOp::Verb::kSet, "a", "x", 0},
                        {KvTxnOp::Verb::kDelete, "b", "", 0},
                        {KvTxnOp::Verb::kCheckIndex, "a", "", 6}});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->committed);
  EXPECT_EQ(fake_.kv["a"].first, "1");
  r = fake_.KvTxn({{KvTxnOp::Verb::kSet, "a", "x", 0}, {KvTxnOp::Verb::kDelete, "b", "", 0}});
  ASSERT_TRUE(r.ok() && r->committed);
  EXPECT_EQ(fake_.kv["a"].first, "x");
  EXPECT_FALSE(fake_.kv.count("b"));
  // cas 0: only if absent; delete-cas: only at the index.
  EXPECT_FALSE(fake_.KvTxn({{KvTxnOp::Verb::kCas, "a", "y", 0}})->committed);
  EXPECT_FALSE(fake_.KvTxn({{KvTxnOp::Verb::kDeleteCas, "a", "", 7}})->committed);
  EXPECT_TRUE(fake_.KvTxn({{KvTxnOp::Verb::kDeleteCas, "a", "", fake_.kv["a"].second}})->committed);
}

TEST_F(ApplyTest, SecretsAreReadAtApplyTimeAndCheckedAgainstThePlan) {
  Action ok = KvPut("web", "DB", "");
  ok.desired = json{{"secret", "env:DB_URL"}, {"hmac", HmacSha256Hex("k", "postgres://x")}};
  ok.sensitive = true;
  Action moved = KvPut("api", "DB", "");
  moved.desired = json{{"secret", "env:API_DB"}, {"hmac", HmacSha256Hex("k", "old")}};
  Action missing = KvPut("cache", "DB", "");
  missing.desired = json{{"secret", "env:CACHE_DB"}};
  plan_.actions = {ok, moved, missing};
  opts_.read_secret = [](const std::string& src) -> Result<std::string> {
    if (src == "env:DB_URL") return std::string("postgres://x");
    if (src == "env:API_DB") return std::string("new");
    return Status::NotFound("secret variable CACHE_DB is not set");
  };
  ApplyResult r = Apply();
  EXPECT_EQ(Outcome(r, ok.id).state, StepState::kApplied);
  EXPECT_EQ(fake_.kv["app/production/web/DB"].first, "postgres://x");
  EXPECT_NE(Outcome(r, moved.id).detail.find("env:API_DB has changed since the plan"),
            std::string::npos);
  EXPECT_NE(Outcome(r, missing.id).detail.find("CACHE_DB is not set"), std::string::npos);
  EXPECT_FALSE(fake_.kv.count("app/production/api/DB"));
  // Recorded as a secret HMAC, never the value.
  auto applied = store_->LastApplied().value();
  EXPECT_EQ(applied.at("consul-kv:app/production/web/DB").body,
            "secret:" + HmacSha256Hex("k", "postgres://x"));
  for (const auto& [k, v] : fake_.records) EXPECT_EQ(v.find("postgres://x"), std::string::npos);
}

TEST_F(ApplyTest, AStepsKeysAreRecordedTogether) {
  plan_.actions = {KvPut("web", "A", "1"), KvPut("web", "B", "2"), KvPut("web", "C", "3")};
  ApplyResult r = Apply();
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(fake_.record_puts, 1);
  json rec = json::parse(fake_.records.at("galley/p/applied/production/web"));
  EXPECT_EQ(rec["kv"].size(), 3u);
  EXPECT_EQ(store_->LastApplied().value().size(), 3u);
}

TEST_F(ApplyTest, AnAppStartsAsSoonAsItsKeysAreWritten) {
  // Two services, one worker: web's app goes right after web's keys, before api's keys.
  Action web_kv = KvPut("web", "A", "1"), api_kv = KvPut("api", "A", "1");
  Action web = AppAction(ActionKind::kAppCreate, "web");
  web.depends_on = {web_kv.id};
  plan_.actions = {web_kv, api_kv, web};
  opts_.concurrency = 1;
  ApplyResult r = Apply();
  ASSERT_TRUE(r.ok()) << r.Summary();
  ASSERT_EQ(fake_.calls.size(), 3u);
  EXPECT_EQ(fake_.calls[1], "create /app/production/web");
}

TEST_F(ApplyTest, ManyKeysAreWrittenInTransactionsOfAtMost64) {
  for (int i = 0; i < 130; ++i) plan_.actions.push_back(KvPut("web", "K" + std::to_string(i), "v"));
  ApplyResult r = Apply();
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(fake_.txns, 3);
  EXPECT_EQ(fake_.kv.size(), 130u);
}

TEST_F(ApplyTest, NothingStartsOnceTheLockIsLost) {
  plan_.actions = {AppAction(ActionKind::kAppCreate, "a"), AppAction(ActionKind::kAppCreate, "b")};
  opts_.concurrency = 1;
  // The lock is lost once the first app is healthy (one worker: nothing runs concurrently).
  opts_.should_stop = [&] {
    return fake_.apps.count("/app/production/a") && fake_.in_flight.empty();
  };
  ApplyResult r = Apply();
  EXPECT_EQ(r.applied, 1);
  EXPECT_EQ(r.not_attempted, 1);
}

TEST_F(ApplyTest, ALostLockEndsTheWaitForAnotherDeploymentAndWritesNothingMore) {
  plan_.actions = {AppAction(ActionKind::kAppUpdate, "web", "v-old")};
  fake_.Have("/app/production/web", "v-old");
  fake_.locked_writes = 1;
  fake_.blocking_polls = 1000000;  // the other deployment would outlast the deadline
  // The lock is lost once the first write was refused (the app is locked).
  opts_.should_stop = [&] { return !fake_.calls.empty(); };
  ApplyResult r = Apply();
  EXPECT_EQ(std::count(fake_.calls.begin(), fake_.calls.end(), "update /app/production/web"), 1);
  EXPECT_LT(clock_.max_ms(), 5000) << "it went on waiting after the lock was lost";
  EXPECT_EQ(r.not_attempted, 1) << r.Summary();
  EXPECT_EQ(Outcome(r, "app:/app/production/web").detail,
            "the platform lock was lost; not written");
  EXPECT_EQ(store_->Journal(run_).value().at(0).state, "skipped");
}

TEST_F(ApplyTest, ALostLockEndsTheBackOffWithoutAnotherWrite) {
  plan_.actions = {AppAction(ActionKind::kAppUpdate, "web", "v-old")};
  fake_.Have("/app/production/web", "v-old");
  fake_.exhausted_writes = 5;
  opts_.should_stop = [&] { return !fake_.calls.empty(); };
  ApplyResult r = Apply();
  EXPECT_EQ(std::count(fake_.calls.begin(), fake_.calls.end(), "update /app/production/web"), 1);
  EXPECT_EQ(r.not_attempted, 1) << r.Summary();
}

TEST_F(ApplyTest, EveryWriteIsConfirmedFirstAndARefusalSendsNothing) {
  // The KV step is written; the lock is then found broken before the app's write.
  plan_.actions = {KvPut("web", "A", "1"), AppAction(ActionKind::kAppCreate, "web")};
  plan_.actions[1].depends_on = {plan_.actions[0].id};
  int confirms = 0;
  opts_.before_write = [&] {
    return ++confirms == 1 ? Status::Ok() : Status::Conflict("lock of platform 'p' lost: broken");
  };
  ApplyResult r = Apply();
  EXPECT_EQ(confirms, 2);
  EXPECT_EQ(r.applied, 1) << r.Summary();
  EXPECT_EQ(r.not_attempted, 1) << r.Summary();
  EXPECT_EQ(fake_.Pos("create /app/production/web"), std::string::npos);
  EXPECT_EQ(Outcome(r, "app:/app/production/web").detail,
            "lock of platform 'p' lost: broken; not written");

  // A KV step refused: nothing sent, its entries skipped.
  FakeTarget kv_only;
  opts_.before_write = [] { return Status::Conflict("lock of platform 'p' lost: broken"); };
  plan_.actions = {KvPut("api", "B", "2")};
  ApplyResult k = ExecutePlan(plan_, kv_only, opts_, records_);
  EXPECT_EQ(kv_only.txns, 0);
  EXPECT_EQ(k.not_attempted, 1) << k.Summary();
}

TEST_F(ApplyTest, ARollbackIsNotWrittenOnceTheLockIsGone) {
  Action app = AppAction(ActionKind::kAppUpdate, "web", "v-old");
  fake_.Have(app.target, "v-old");
  fake_.stuck_deployments.insert("d-1");
  opts_.app_deadline = std::chrono::seconds(10);
  opts_.rollback_on_failure = true;
  int confirms = 0;
  opts_.before_write = [&] {
    return ++confirms == 1 ? Status::Ok() : Status::Conflict("lock lost");
  };
  plan_.actions = {app};
  ApplyResult r = Apply();
  ASSERT_EQ(r.failed, 1);
  EXPECT_FALSE(Outcome(r, app.id).rolled_back);
  EXPECT_EQ(fake_.Pos("update /app/production/web force"), std::string::npos);
  EXPECT_EQ(confirms, 2);
}

TEST_F(ApplyTest, AnActionThatCannotBeJournaledIsNotRun) {
  records_.run_id = 999;  // no such run: the store refuses the journal entry
  plan_.actions = {KvPut("web", "A", "1"), AppAction(ActionKind::kAppCreate, "api")};
  ApplyResult r = Apply();
  EXPECT_EQ(r.failed, 2);
  EXPECT_NE(r.outcomes[0].detail.find("cannot journal"), std::string::npos) << r.outcomes[0].detail;
  EXPECT_TRUE(fake_.calls.empty()) << fake_.calls[0];
}

TEST_F(ApplyTest, AnInterruptStartsNothingNewAndLeavesDeployingAppsOpen) {
  plan_.actions = {AppAction(ActionKind::kAppCreate, "a"), AppAction(ActionKind::kAppCreate, "b")};
  opts_.concurrency = 1;
  fake_.polls_to_healthy = 1000;
  // The interrupt arrives while the first app deploys.
  opts_.interrupted = [this] { return fake_.reads > 2; };
  ApplyResult r = Apply();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.interrupted, 1);
  EXPECT_EQ(r.not_attempted, 1);
  EXPECT_EQ(fake_.Pos("create /app/production/b"), std::string::npos);
  EXPECT_EQ(fake_.Pos("cancel d-1"), std::string::npos)
      << "an interrupt does not cancel Marathon's deployment";
  EXPECT_NE(r.Summary().find("1 interrupted"), std::string::npos) << r.Summary();
  // The written app's entry stays open, for the next apply to follow to health.
  std::map<std::string, std::string> states;
  auto entries = store_->Journal(run_).value();
  for (const auto& e : entries) states[e.action_id] = e.state;
  EXPECT_EQ(states["app:/app/production/a"], "started");
  EXPECT_EQ(states["app:/app/production/b"], "skipped");
}

TEST_F(ApplyTest, ScaleSendsOnlyTheInstanceCount) {
  plan_.actions = {AppAction(ActionKind::kAppScale, "web", "v1", 6)};
  fake_.Have("/app/production/web", "v1");
  ApplyResult r = Apply();
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(fake_.calls[0], "scale /app/production/web 6");
}

TEST(ApplyHelpers, StaleReasonsNameWhatMoved) {
  Plan p;
  p.actions = {AppAction(ActionKind::kAppUpdate, "web", "v1"),
               AppAction(ActionKind::kAppCreate, "new"), KvPut("web", "A", "x", "5"),
               KvPut("web", "B", "x", "0")};
  model::LiveState live;
  live.apps["/app/production/web"].version = "v1";
  live.kv["app/production/web/A"].modify_index = 5;
  EXPECT_TRUE(StaleReasons(p, live).empty());
  live.apps["/app/production/web"].version = "v2";
  live.apps["/app/production/new"].version = "v9";
  live.kv["app/production/web/A"].modify_index = 6;
  live.kv["app/production/web/B"].modify_index = 8;
  auto reasons = StaleReasons(p, live);
  ASSERT_EQ(reasons.size(), 4u);
  EXPECT_EQ(reasons[0], "app /app/production/web: planned against version v1, now v2");
  EXPECT_EQ(reasons[1], "app /app/production/new: planned when absent, now exists (version v9)");
  EXPECT_EQ(reasons[2], "key app/production/web/A: planned at index 5, now 6");
  EXPECT_EQ(reasons[3], "key app/production/web/B: planned when absent, now exists (index 8)");
}

// A saved plan's job actions are checked against the jobs Chronos has now (their digest);
// hook runs are not (their job is checked when the hook starts), nor jobs when Chronos was
// not observed.
TEST(ApplyHelpers, StaleReasonsCompareJobsByTheirDigest) {
  nlohmann::json report{{"name", "production-web-report"},
                        {"command", "true"},
                        {"schedule", "R/2026-01-01T03:00:00Z/P1D"}};
  auto job_action = [](ActionKind kind, const std::string& name, const std::string& token) {
    Action a;
    a.id = JobActionId(name);
    a.kind = kind;
    a.target = name;
    a.token = token;
    return a;
  };
  Plan p;
  p.actions = {job_action(ActionKind::kJobUpdate, "production-web-report", JobDigest(report)),
               job_action(ActionKind::kJobCreate, "production-web-new", "0"),
               job_action(ActionKind::kHookRun, "production-web-migrate", "sha256:whatever")};
  model::LiveState live;
  EXPECT_TRUE(StaleReasons(p, live).empty()) << "jobs not observed: nothing to compare";
  live.jobs_observed = true;
  live.jobs["production-web-report"] = report;
  EXPECT_TRUE(StaleReasons(p, live).empty());
  nlohmann::json edited = report;
  edited["command"] = "false";
  live.jobs["production-web-report"] = edited;
  live.jobs["production-web-new"] = report;
  auto reasons = StaleReasons(p, live);
  ASSERT_EQ(reasons.size(), 2u);
  EXPECT_EQ(reasons[0], "job production-web-report: planned against " + JobDigest(report) +
                            ", now " + JobDigest(edited));
  EXPECT_EQ(reasons[1], "job production-web-new: planned when absent, now " + JobDigest(report));
  live.jobs.erase("production-web-report");
  reasons = StaleReasons(p, live);
  ASSERT_EQ(reasons.size(), 2u);
  EXPECT_EQ(reasons[0],
            "job production-web-report: planned against " + JobDigest(report) + ", now deleted");
}

TEST(ApplyHelpers, SafetyRailsCountDeletesAndRestartsPerEnvironment) {
  Plan p;
  for (int i = 0; i < 11; ++i)
    p.actions.push_back(AppAction(ActionKind::kAppDelete, "s" + std::to_string(i), "v"));
  EXPECT_EQ(SafetyViolations(p, {{"production", 20}}).size(), 1u);  // 11 > max(10, 5)
  EXPECT_TRUE(SafetyViolations(p, {{"production", 60}}).empty());   // 11 <= 25% of 60
  p.actions.resize(10);
  EXPECT_TRUE(SafetyViolations(p, {{"production", 10}}).empty());
  p.actions.push_back(AppAction(ActionKind::kAppRestart, "r", "v"));
  EXPECT_EQ(SafetyViolations(p, {{"production", 10}}).size(), 1u);
  p.actions.push_back(AppAction(ActionKind::kAppScale, "x", "v"));  // scaling is not disruptive
  EXPECT_EQ(SafetyViolations(p, {{"production", 10}}).size(), 1u);
}

TEST(ApplyHelpers, WavesFollowDependencies) {
  Plan p;
  Action k1 = KvPut("web", "A", "1"), k2 = KvPut("web", "B", "2");
  Action app = AppAction(ActionKind::kAppUpdate, "web", "v");
  app.depends_on = {k1.id, k2.id};
  Action other = AppAction(ActionKind::kAppCreate, "api");
  p.actions = {k1, k2, app, other};
  auto waves = ScheduleWaves(p);
  ASSERT_EQ(waves.size(), 2u);
  ASSERT_EQ(waves[0].size(), 2u);
  EXPECT_EQ(waves[0][0], "kv-put production/web (2 keys)");
  EXPECT_EQ(waves[0][1], "app-create /app/production/api, then wait until healthy");
  EXPECT_EQ(waves[1],
            std::vector<std::string>{"app-update /app/production/web, then wait until healthy"});
}

TEST_F(ApplyTest, AnInterruptedRunIsResolvedAgainstLiveState) {
  // A run that died after writing one app and before writing the other.
  Action done = AppAction(ActionKind::kAppUpdate, "done", "v1");
  Action never = AppAction(ActionKind::kAppUpdate, "never", "v1");
  for (const Action* a : {&done, &never}) {
    store::JournalEntry e;
    e.run_id = run_;
    e.action_id = a->id;
    e.resource = "marathon-app:" + a->target;
    e.kind = "update";
    e.state = "started";
    e.detail = json{{"target", a->target},
                    {"env", "production"},
                    {"service", a->service},
                    {"expect", NormalizeApp(a->desired)}}
                   .dump();
    ASSERT_TRUE(store_->JournalStart(e).ok());
  }
  // The process is gone: the run is marked interrupted.
  ASSERT_TRUE(store_->FinishRun(run_, "interrupted", "{}").ok());
  model::LiveState live;
  live.apps[done.target].body = done.desired;
  live.apps[never.target].body = Body(never.target, 1);
  auto lines = RecoverInterrupted(live, fake_, records_, opts_);
  ASSERT_TRUE(lines.ok());
  ASSERT_EQ(lines->size(), 2u);
  auto applied = store_->LastApplied().value();
  EXPECT_TRUE(applied.count("marathon-app:/app/production/done"));
  EXPECT_FALSE(applied.count("marathon-app:/app/production/never"));
  EXPECT_TRUE(fake_.records.count("galley/p/applied/production/done"));
  std::map<std::string, std::string> states;
  auto entries = store_->Journal(run_).value();
  for (const auto& e : entries) states[e.action_id] = e.state;
  EXPECT_EQ(states[done.id], "succeeded");
  EXPECT_EQ(states[never.id], "failed");
  // Settled once: a second pass finds nothing.
  EXPECT_TRUE(RecoverInterrupted(live, fake_, records_, opts_)->empty());
}

TEST(ApplyHelpers, ConfigDigestsUnknownAtPlanTimeAreComputedAtApply) {
  Plan p;
  Action app = AppAction(ActionKind::kAppCreate, "web");
  app.desired["labels"] = json{{"galley.config-digest", "(known after apply)"}, {"version", "v1"}};
  app.config = json{{"LOG_LEVEL", {{"value", "info"}}}, {"DB", {{"secret", "env:DB_URL"}}}};
  Action other = AppAction(ActionKind::kAppCreate, "api");
  other.desired["labels"] = json{{"galley.config-digest", "d-known"}};
  p.actions = {app, other};
  auto secrets = [](const std::string& src) -> Result<std::string> {
    if (src == "env:DB_URL") return std::string("postgres://x");
    return Status::NotFound("secret variable X is not set");
  };
  ASSERT_TRUE(ResolveConfigDigests(p, "k", secrets).ok());
  // The same digest the planner makes when the key exists (engine/desired.h).
  std::string want = *ConfigDigest(
      "k", {{"LOG_LEVEL", HmacSha256Hex("k", "info")}, {"DB", HmacSha256Hex("k", "postgres://x")}});
  EXPECT_EQ(p.actions[0].desired["labels"]["galley.config-digest"], want);
  EXPECT_EQ(p.actions[1].desired["labels"]["galley.config-digest"], "d-known");
  // A secret that cannot be read names itself; a plan without the config says so.
  p.actions[0].desired["labels"]["galley.config-digest"] = "(known after apply)";
  p.actions[0].config["DB"] = json{{"secret", "env:MISSING"}};
  Status missing = ResolveConfigDigests(p, "k", secrets);
  EXPECT_NE(missing.message().find("secret variable X is not set"), std::string::npos)
      << missing.message();
  p.actions[0].config = json();
  EXPECT_NE(ResolveConfigDigests(p, "k", secrets).message().find("plan again"), std::string::npos);
}

TEST_F(ApplyTest, AnInterruptedAppStillDeployingIsFollowedToTheEnd) {
  Action slow = AppAction(ActionKind::kAppCreate, "slow"),
         stuck = AppAction(ActionKind::kAppCreate, "stuck");
  model::LiveState live;
  for (const Action* a : {&slow, &stuck}) {
    store::JournalEntry e;
    e.run_id = run_;
    e.action_id = a->id;
    e.resource = "marathon-app:" + a->target;
    e.kind = "create";
    e.state = "started";
    e.detail = json{{"target", a->target},
                    {"env", "production"},
                    {"service", a->service},
                    {"expect", NormalizeApp(a->desired)}}
                   .dump();
    ASSERT_TRUE(store_->JournalStart(e).ok());
    // Written, and Marathon is still deploying it.
    ASSERT_TRUE(fake_.Deploy(a->target, a->desired).ok());
    live.apps[a->target].body = a->desired;
    live.apps[a->target].instances = 2;
    live.apps[a->target].deployment_ids = {"d-live"};
  }
  fake_.stuck_deployments.insert("d-2");  // stuck's deployment (slow's is d-1)
  ASSERT_TRUE(store_->FinishRun(run_, "interrupted", "{}").ok());
  // Both are followed at once, each on its own view of the fake clock: the stuck one's
  // sleeps do not run the other's deadline out, and nothing waits on real time.
  opts_.app_deadline = std::chrono::seconds(1);
  auto lines = RecoverInterrupted(live, fake_, records_, opts_);
  ASSERT_TRUE(lines.ok()) << lines.status().message();
  auto applied = store_->LastApplied().value();
  EXPECT_TRUE(applied.count("marathon-app:/app/production/slow"));    // healthy after a few looks
  EXPECT_FALSE(applied.count("marathon-app:/app/production/stuck"));  // never: failed, cancelled
  EXPECT_GE(fake_.reads, 3);
  EXPECT_NE(fake_.Pos("cancel d-2"), std::string::npos);  // the deployment of the stuck app
  std::map<std::string, std::string> states;
  auto entries = store_->Journal(run_).value();
  for (const auto& e : entries) states[e.action_id] = e.state;
  EXPECT_EQ(states[slow.id], "succeeded");
  EXPECT_EQ(states[stuck.id], "failed");
}

// Apply checks a secret against the HMAC the plan made of it: both read it the same way.
TEST(ApplyHelpers, SecretsAreReadAlikeAtPlanAndAtApply) {
  std::string path = ::testing::TempDir() + "/galley-secret-test";
  {
    std::ofstream f(path, std::ios::trunc);
    f << "s3cret\n";
  }
  std::map<std::string, std::string> env = {{"DB", "postgres://x"}, {"EMPTY", ""}};
  model::ConfigValue file{model::ConfigValue::Source::kSecretFile, path, {}};
  model::ConfigValue var{model::ConfigValue::Source::kSecretEnv, "DB", {}};
  model::ConfigValue empty{model::ConfigValue::Source::kSecretEnv, "EMPTY", {}};
  SecretResolver at_plan = EnvironmentSecrets(env);
  EXPECT_EQ(ReadSecret(SecretSource(file), env).value(), "s3cret");  // one trailing newline dropped
  EXPECT_EQ(at_plan(file), std::optional<std::string>("s3cret"));
  EXPECT_EQ(ReadSecret("env:DB", env).value(), "postgres://x");
  EXPECT_EQ(at_plan(var), std::optional<std::string>("postgres://x"));
  // An empty variable is unset at both ends, and apply names it.
  EXPECT_EQ(at_plan(empty), std::nullopt);
  EXPECT_EQ(ReadSecret("env:EMPTY", env).status().message(), "secret variable EMPTY is not set");
  EXPECT_EQ(ReadSecret("env:NOPE", env).status().code(), StatusCode::kNotFound);
  std::remove(path.c_str());
}

TEST(ApplyHelpers, ASecretFileThatIsAFifoIsRefusedWithoutBlocking) {
  char dir[] = "/tmp/galley-secret-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string fifo = std::string(dir) + "/db_url";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto read = std::async(std::launch::async, [&] { return ReadSecret("file:" + fifo, {}); });
  if (read.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    ADD_FAILURE() << "reading the secret file blocked on a FIFO";
    int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // unblocks the reader
    if (fd >= 0) ::close(fd);
  }
  auto secret = read.get();
  ::unlink(fifo.c_str());
  ::rmdir(dir);
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().message(),
            "secret file " + fifo + ": " + fifo + ": not a regular file (a FIFO (named pipe))");
}

TEST(DryRun, RecordsEveryCallAndSendsNothing) {
  model::LiveState live;
  DryRunTarget dry(live);
  Plan p;
  Action kv = KvPut("web", "A", "1");
  Action app = AppAction(ActionKind::kAppCreate, "web");
  app.depends_on = {kv.id};
  p.actions = {kv, app, AppAction(ActionKind::kAppDelete, "old", "v")};
  ApplyRecords records;  // no store: nothing recorded
  ApplyOptions o;
  o.poll_interval = std::chrono::milliseconds(0);
  ApplyResult r = ExecutePlan(p, dry, o, records);
  ASSERT_TRUE(r.ok()) << r.Summary();
  auto calls = dry.calls();
  ASSERT_EQ(calls.size(), 3u);
  auto at = [&](const std::string& c) {
    return std::find(calls.begin(), calls.end(), c) - calls.begin();
  };
  ASSERT_LT(at("PUT /v1/txn (1 ops: cas app/production/web/A)"), 3);
  ASSERT_LT(at("POST /v2/apps /app/production/web"), 3);
  ASSERT_LT(at("DELETE /v2/apps/app/production/old"), 3);
  // The key before the app that reads it; the independent delete in any order.
  EXPECT_LT(at("PUT /v1/txn (1 ops: cas app/production/web/A)"),
            at("POST /v2/apps /app/production/web"));
}

}  // namespace
}  // namespace galley::engine

namespace galley::engine {
namespace {

// No I/O under a shared lock: while one step's record write to Consul hangs (a slow or
// retrying PUT), an independent step still completes, record and all.
TEST_F(ApplyTest, ASlowRecordWriteHoldsUpNoOtherStep) {
  struct SlowRecords : FakeTarget {
    Status PutRecord(const std::string& key, const std::string& value) override {
      if (key == "galley/p/applied/production/slow") {
        std::unique_lock<std::mutex> l(latch_mu);
        blocked = true;
        latch_cv.wait(l, [&] { return released; });
      }
      return FakeTarget::PutRecord(key, value);
    }
    // The fast step writes only once the slow one hangs, so it has to get past it.
    Result<clients::KvTxnResult> KvTxn(const std::vector<KvTxnOp>& ops) override {
      if (ops[0].key.find("/fast/") != std::string::npos)
        (void)testing::Eventually([&] { return blocked.load(); });
      return FakeTarget::KvTxn(ops);
    }
    void Release() {
      std::lock_guard<std::mutex> l(latch_mu);
      released = true;
      latch_cv.notify_all();
    }
    std::mutex latch_mu;
    std::condition_variable latch_cv;
    bool released = false;
    std::atomic<bool> blocked{false};
  } target;
  plan_.actions = {KvPut("slow", "A", "1"), KvPut("fast", "A", "1")};
  opts_.concurrency = 2;
  ApplyResult r;
  std::thread apply([&] { r = ExecutePlan(plan_, target, opts_, records_); });
  bool blocked = testing::Eventually([&] { return target.blocked.load(); });
  bool other_done =
      blocked && testing::Eventually(
                     [&] {
                       std::lock_guard<std::mutex> l(target.mu);
                       return target.records.count("galley/p/applied/production/fast") > 0;
                     },
                     std::chrono::seconds(10));
  target.Release();
  apply.join();
  EXPECT_TRUE(blocked);
  EXPECT_TRUE(other_done) << "the fast step's record waited for the slow step's PUT";
  EXPECT_TRUE(r.ok()) << r.Summary();
}

}  // namespace
}  // namespace galley::engine

namespace galley::engine {
namespace {

// Collects the executor's events (the sink is called one at a time; the lock is for reading
// them from the test thread).
struct Events : ApplyEventSink {
  void On(const ApplyEvent& e) override {
    std::lock_guard<std::mutex> l(mu);
    all.push_back(e);
  }
  std::vector<ApplyEvent> Of(EventKind kind, const std::string& action_id = "") {
    std::lock_guard<std::mutex> l(mu);
    std::vector<ApplyEvent> out;
    for (const auto& e : all) {
      if (e.kind == kind && (action_id.empty() || e.action_id == action_id)) out.push_back(e);
    }
    return out;
  }
  std::mutex mu;
  std::vector<ApplyEvent> all;
};

TEST_F(ApplyTest, AFollowedDeploymentIsReportedWithItsStepAndCounts) {
  struct Staged : FakeTarget {
    Result<std::vector<clients::MarathonDeployment>> Deployments() override {
      clients::MarathonDeployment d;
      d.id = "d-1";
      d.current_step = 1;
      d.total_steps = 2;
      d.current_actions = {"StartApplication"};
      d.affected_apps = {"/app/production/web"};
      return std::vector<clients::MarathonDeployment>{d};
    }
  } target;
  Events events;
  opts_.events = &events;
  Action app = AppAction(ActionKind::kAppCreate, "web", "0", 3);
  plan_.actions = {app};
  ApplyResult r = ExecutePlan(plan_, target, opts_, records_);
  ASSERT_TRUE(r.ok()) << r.Summary();
  auto deploying = events.Of(EventKind::kDeployment, app.id);
  ASSERT_EQ(deploying.size(), 1u);  // one line per change of state
  const ApplyEvent& d = deploying[0];
  EXPECT_EQ(d.target, "/app/production/web");
  EXPECT_EQ(d.deployment_id, "d-1");
  EXPECT_EQ(d.deployment_step, 1);
  EXPECT_EQ(d.deployment_steps, 2);
  EXPECT_EQ(d.wanted, 3);
  EXPECT_EQ(d.running, 0);
  EXPECT_EQ(d.healthy, 0);
  EXPECT_EQ(d.line,
            "/app/production/web: deployment step 1/2 (StartApplication), healthy 0/3, running 0");
  // Started, then deploying, then finished, in that order; `at` on the apply's clock.
  auto started = events.Of(EventKind::kStepStarted, app.id);
  auto finished = events.Of(EventKind::kStepFinished, app.id);
  ASSERT_EQ(started.size(), 1u);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(started[0].line, "app-create /app/production/web: starting");
  EXPECT_EQ(finished[0].state, std::optional<StepState>(StepState::kApplied));
  EXPECT_EQ(finished[0].line, "app-create /app/production/web: done in " + std::string("0.3 s"));
  EXPECT_DOUBLE_EQ(finished[0].seconds, 0.3);  // two polls on the fake clock: 100 ms, 200 ms
  EXPECT_DOUBLE_EQ(finished[0].at, 0.3);
  size_t s = 0, dep = 0, f = 0;
  for (size_t k = 0; k < events.all.size(); ++k) {
    if (events.all[k].kind == EventKind::kStepStarted) s = k;
    if (events.all[k].kind == EventKind::kDeployment) dep = k;
    if (events.all[k].kind == EventKind::kStepFinished) f = k;
  }
  EXPECT_LT(s, dep);
  EXPECT_LT(dep, f);
}

TEST_F(ApplyTest, AFailedStepFinishesFailedAndEveryStepStartsBeforeItFinishes) {
  Action bad = AppAction(ActionKind::kAppUpdate, "web", "v-old");
  fake_.Have(bad.target, "v-old");
  fake_.reject.insert(bad.target);
  Action good = AppAction(ActionKind::kAppCreate, "api");
  Action kv = KvPut("api", "A", "1");
  good.depends_on = {kv.id};
  plan_.actions = {kv, bad, good};
  Events events;
  opts_.events = &events;
  ApplyResult r = Apply();
  ASSERT_EQ(r.failed, 1) << r.Summary();
  auto failed = events.Of(EventKind::kStepFinished, bad.id);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].state, std::optional<StepState>(StepState::kFailed));
  EXPECT_EQ(failed[0].line, bad.id + ": FAILED: 422 bad definition");
  EXPECT_EQ(failed[0].target, bad.target);
  // The KV step's transaction is its kStepFinished, named by the step.
  auto written = events.Of(EventKind::kStepFinished, kv.id);
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0].target, "kv-put production/api");
  EXPECT_EQ(written[0].line, "kv-put production/api: written (1 key)");
  EXPECT_EQ(written[0].state, std::optional<StepState>(StepState::kApplied));
  // Per app step: started before finished.
  for (const Action* a : {&bad, &good}) {
    size_t started = SIZE_MAX, finished = SIZE_MAX;
    for (size_t k = 0; k < events.all.size(); ++k) {
      if (events.all[k].action_id != a->id) continue;
      if (events.all[k].kind == EventKind::kStepStarted) started = k;
      if (events.all[k].kind == EventKind::kStepFinished) finished = k;
    }
    ASSERT_NE(started, SIZE_MAX) << a->id;
    ASSERT_NE(finished, SIZE_MAX) << a->id;
    EXPECT_LT(started, finished) << a->id;
  }
}

TEST_F(ApplyTest, ALostLockIsReportedAsStoppingAndNotesNameTheirStep) {
  plan_.actions = {AppAction(ActionKind::kAppUpdate, "web", "v-old")};
  fake_.Have("/app/production/web", "v-old");
  fake_.exhausted_writes = 1;
  int confirms = 0;
  opts_.before_write = [&] {
    return ++confirms <= 2 ? Status::Ok() : Status::Conflict("lock lost");
  };
  plan_.actions.push_back(AppAction(ActionKind::kAppCreate, "api"));
  plan_.actions[1].depends_on = {plan_.actions[0].id};
  Events events;
  opts_.events = &events;
  ApplyResult r = Apply();
  ASSERT_EQ(r.applied, 1) << r.Summary();
  auto notes = events.Of(EventKind::kStepNote, "app:/app/production/web");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0].line,
            "/app/production/web: Marathon runs too many deployments; retrying in 1 s");
  auto stopping = events.Of(EventKind::kStopping);
  ASSERT_EQ(stopping.size(), 1u);
  EXPECT_EQ(stopping[0].line, "stopping: nothing more is written (lock lost)");
  EXPECT_EQ(EventKindName(stopping[0].kind), std::string("stopping"));
  auto skipped = events.Of(EventKind::kStepFinished, "app:/app/production/api");
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].state, std::optional<StepState>(StepState::kNotAttempted));
}

}  // namespace
}  // namespace galley::engine

namespace galley::engine {
namespace {

// An LB model is written like a key, with cas on the index the plan saw, in a step of its
// own; it is recorded by its digest (store: haproxy-model:<instance>; Consul: "models" in the
// _platform record) and journaled under its resource. A model changed since the plan is a
// conflict, not overwritten; a delete removes the key and the record.
TEST_F(ApplyTest, AnLbModelIsWrittenWithCasAndRecordedByDigest) {
  Action create;
  create.id = "haproxy-model:internal";
  create.kind = ActionKind::kModelCreate;
  create.target = "galley/p/haproxy/internal";
  create.token = "0";
  create.desired =
      json{{"value", "{\"digest\":\"sha256:d1\",\"schema\":1}"}, {"digest", "sha256:d1"}};
  plan_.actions = {create};
  ApplyResult r = Apply();
  ASSERT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(fake_.kv["galley/p/haproxy/internal"].first, "{\"digest\":\"sha256:d1\",\"schema\":1}");
  auto applied = store_->LastApplied().value();
  ASSERT_TRUE(applied.count("haproxy-model:internal"));
  EXPECT_EQ(applied["haproxy-model:internal"].body, "sha256:d1");
  EXPECT_FALSE(applied.count("consul-kv:galley/p/haproxy/internal"));
  json rec = json::parse(fake_.records.at("galley/p/applied/_platform"));
  EXPECT_EQ(rec["models"]["internal"], "sha256:d1");
  auto journal = store_->Journal(run_).value();
  ASSERT_EQ(journal.size(), 1u);
  EXPECT_EQ(journal[0].resource, "haproxy-model:internal");
  EXPECT_EQ(journal[0].state, "succeeded");

  // Another document planned against index 0: the key exists now, so the cas fails.
  plan_.actions[0].desired["value"] = "{\"digest\":\"sha256:d2\",\"schema\":1}";
  ApplyResult again = Apply();
  EXPECT_EQ(again.failed, 1);
  EXPECT_NE(Outcome(again, "haproxy-model:internal").detail.find("conflict"), std::string::npos);

  Action del;
  del.id = "haproxy-model:internal";
  del.kind = ActionKind::kModelDelete;
  del.target = "galley/p/haproxy/internal";
  del.token = std::to_string(fake_.kv["galley/p/haproxy/internal"].second);
  plan_.actions = {del};
  ApplyResult gone = Apply();
  ASSERT_TRUE(gone.ok()) << gone.Summary();
  EXPECT_FALSE(fake_.kv.count("galley/p/haproxy/internal"));
  EXPECT_FALSE(
      json::parse(fake_.records.at("galley/p/applied/_platform"))["models"].contains("internal"));
}

}  // namespace
}  // namespace galley::engine
