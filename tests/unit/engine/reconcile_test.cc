// SPDX-License-Identifier: Apache-2.0
// The reconcile workflow (engine/reconcile.h) with a fake source, a fake Consul (sessions,
// locks and KV with cas), a fake apply target and an in-memory store: nothing to do, a
// declined confirmation writes nothing, a held lock, a stale saved plan, the safety rails,
// and a successful apply with its phase events, records and platform history.
#include "engine/reconcile.h"

#include <map>
#include <mutex>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/run_history.h"
#include "support/fake_clock.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

// Sessions, locks and KV with cas: what the lock, the HMAC key and the platform history use.
// Thread-safe: the lock's renewal thread calls it.
class FakeConsul : public clients::ConsulClient {
 public:
  Result<clients::KvList> ListKv(const std::string&) override { return Status::Internal("unused"); }
  Result<model::LiveKvEntry> GetKv(const std::string& key) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = kv_.find(key);
    if (it == kv_.end()) return Status::NotFound("consul: key \"" + key + "\" does not exist");
    return it->second;
  }
  Result<std::map<std::string, std::vector<std::string>>> ListServices() override {
    return Status::Internal("unused");
  }
  Result<std::vector<clients::HealthInstance>> ServiceHealth(const std::string&, bool) override {
    return Status::Internal("unused");
  }
  int requests() const override { return 0; }
  Result<clients::KvTxnResult> Txn(const std::vector<clients::KvTxnOp>&) override {
    return Status::Internal("unused");
  }
  Result<bool> PutKv(const std::string& key, const std::string& value,
                     std::optional<uint64_t> cas) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = kv_.find(key);
    uint64_t have = it == kv_.end() ? 0 : it->second.modify_index;
    if (cas && *cas != have) return false;
    kv_[key] =
        model::LiveKvEntry{key, value, ++index_, 0, it == kv_.end() ? "" : it->second.session};
    return true;
  }
  Result<bool> DeleteKv(const std::string&, std::optional<uint64_t>) override {
    return Status::Internal("unused");
  }
  Result<std::string> CreateSession(const clients::SessionOptions&) override {
    std::lock_guard<std::mutex> lk(mu_);
    std::string id = "s" + std::to_string(++next_session_);
    sessions_.insert(id);
    return id;
  }
  Status RenewSession(const std::string& id) override {
    std::lock_guard<std::mutex> lk(mu_);
    if (!sessions_.count(id))
      return Status::NotFound("consul: session '" + id + "' does not exist");
    return Status::Ok();
  }
  Status DestroySession(const std::string& id) override {
    std::lock_guard<std::mutex> lk(mu_);
    sessions_.erase(id);
    for (auto& [key, e] : kv_) {
      if (e.session == id) e.session.clear();
    }
    return Status::Ok();
  }
  Result<bool> AcquireLock(const std::string& key, const std::string& value,
                           const std::string& session) override {
    std::lock_guard<std::mutex> lk(mu_);
    if (!sessions_.count(session))
      return Status::NotFound("consul: invalid session \"" + session + "\"");
    auto& e = kv_[key];
    if (!e.session.empty() && e.session != session) return false;
    e.key = key;
    e.value = value;
    e.session = session;
    e.modify_index = ++index_;
    return true;
  }
  Result<bool> ReleaseLock(const std::string& key, const std::string& session) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = kv_.find(key);
    if (it == kv_.end() || it->second.session != session) return false;
    it->second.session.clear();
    it->second.value.clear();
    return true;
  }

  bool Has(const std::string& key) {
    std::lock_guard<std::mutex> lk(mu_);
    return kv_.count(key) > 0;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, model::LiveKvEntry> kv_;
  std::set<std::string> sessions_;
  uint64_t index_ = 0;
  int next_session_ = 0;
};

// Every write takes at once and every app is healthy as soon as it is written.
class FakeTarget : public ApplyTarget {
 public:
  Result<clients::KvTxnResult> KvTxn(const std::vector<clients::KvTxnOp>& ops) override {
    std::lock_guard<std::mutex> l(mu);
    writes.push_back("txn " + std::to_string(ops.size()));
    clients::KvTxnResult r;
    r.committed = true;
    return r;
  }
  Result<std::optional<std::string>> KvGet(const std::string&) override {
    return std::optional<std::string>();
  }
  Result<clients::MarathonDeploymentResult> CreateApp(const json& body, bool) override {
    return Write("create", body["id"], body);
  }
  Result<clients::MarathonDeploymentResult> UpdateApp(const std::string& id, const json& body,
                                                      bool) override {
    return Write("update", id, body);
  }
  Result<clients::MarathonDeploymentResult> ScaleApp(const std::string& id, int n, bool) override {
    return Write("scale", id, json{{"id", id}, {"instances", n}});
  }
  Result<clients::MarathonDeploymentResult> DeleteApp(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu);
    writes.push_back("delete " + id);
    apps.erase(id);
    return clients::MarathonDeploymentResult{"d-del", "v"};
  }
  Result<clients::MarathonDeploymentResult> CancelDeployment(const std::string&) override {
    return clients::MarathonDeploymentResult{"d-cancel", "v"};
  }
  Result<json> AppVersion(const std::string& id, const std::string&) override {
    return json{{"id", id}};
  }
  Result<model::LiveApp> App(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu);
    auto it = apps.find(id);
    if (it == apps.end()) return Status::NotFound("marathon: app '" + id + "' does not exist");
    model::LiveApp app;
    app.id = id;
    app.body = it->second;
    app.version = versions.count(id) ? versions[id] : "v-written";
    app.instances = it->second.value("instances", 1);
    app.tasks_running = app.tasks_healthy = app.instances;
    return app;
  }
  Result<std::vector<clients::MarathonDeployment>> Deployments() override {
    return std::vector<clients::MarathonDeployment>{};
  }
  Status PutRecord(const std::string& key, const std::string&) override {
    std::lock_guard<std::mutex> l(mu);
    records.insert(key);
    return Status::Ok();
  }

  Result<clients::MarathonDeploymentResult> Write(const std::string& what, const std::string& id,
                                                  const json& body) {
    std::lock_guard<std::mutex> l(mu);
    writes.push_back(what + " " + id);
    apps[id] = body;
    return clients::MarathonDeploymentResult{"d-1", "v-written"};
  }

  std::mutex mu;
  std::map<std::string, json> apps;
  std::map<std::string, std::string> versions;  // of apps that were live before; else "v-written"
  std::vector<std::string> writes;
  std::set<std::string> records;
};

// Observations of a fixed live state; the planner's input is `base` against them.
class FakeSource : public ReconcileSource {
 public:
  Result<Observation> Observe() override {
    ++observed;
    Observation o;
    o.live = live;
    o.hmac_key = "k";
    return o;
  }
  PlanInput PlanInputFor(Observation&& latest, const std::string& compare_key,
                         bool durable) override {
    PlanInput in = base;
    in.live = std::move(latest.live);
    in.hmac_key = compare_key;
    in.hmac_key_durable = durable;
    return in;
  }
  void DescribePlan(const PlanInput&, Plan* plan) override { plan->commit = "c0ffee"; }

  PlanInput base;
  model::LiveState live;
  int observed = 0;
};

class Events : public ApplyEventSink {
 public:
  void On(const ApplyEvent& e) override {
    std::lock_guard<std::mutex> l(mu);
    seen.push_back(e);
  }
  std::vector<std::string> Lines(EventKind kind) {
    std::lock_guard<std::mutex> l(mu);
    std::vector<std::string> out;
    for (const auto& e : seen) {
      if (e.kind == kind) out.push_back(e.line);
    }
    return out;
  }
  std::mutex mu;
  std::vector<ApplyEvent> seen;
};

json App(const std::string& id) {
  return json{{"id", id},
              {"instances", 1},
              {"cpus", 0.1},
              {"mem", 64.0},
              {"labels", {{"galley.platform", "p"}, {"galley.config-digest", "d1"}}},
              {"container", {{"type", "DOCKER"}, {"docker", {{"image", "r/web:v1"}}}}}};
}

model::LiveApp Live(const std::string& id, const std::string& version) {
  model::LiveApp a;
  a.id = id;
  a.body = App(id);
  a.version = version;
  a.instances = 1;
  a.tasks_running = a.tasks_healthy = 1;
  return a;
}

class ReconcileTest : public ::testing::Test {
 protected:
  ReconcileTest() {
    auto s = store::OpenSqliteStore(":memory:");
    EXPECT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(s).value();
    source_.base.platform = "p";
    source_.base.environments = {"production"};
    source_.base.app_prefixes = {"/app/production/"};
    source_.base.kv_prefixes = {"app/production/"};
    source_.base.declared_services = {"web"};
    request_.platform.name = "p";
    request_.platform.environments.push_back(model::Environment{.name = "production"});
    request_.commit = "c0ffee";
    request_.origin.who = "tester";
    request_.host = "tester@host";
    request_.lock.holder = "tester@host pid 1";
    request_.apply.clock = &clock_;  // polls advance fake time; nothing waits on real time
    request_.apply.read_secret = [](const std::string& source) -> Result<std::string> {
      return Status::NotFound("no secret " + source);
    };
    deps_.source = &source_;
    deps_.consul = &consul_;
    deps_.store = store_.get();
    deps_.target = &target_;
    deps_.events = &events_;
  }

  void WantWeb() {
    json body = App("/app/production/web");
    source_.base.apps.push_back(DesiredApp{"web", "production", body["id"], body, {}, false});
  }
  std::string LastRunOutcome() {
    auto runs = store_->RecentRuns(1);
    EXPECT_TRUE(runs.ok());
    return runs.ok() && !runs->empty() ? runs->front().outcome : "";
  }

  testing::FakeClock clock_;
  FakeConsul consul_;
  FakeTarget target_;
  FakeSource source_;
  Events events_;
  std::unique_ptr<store::StateStore> store_;
  ReconcileRequest request_;
  ReconcileDeps deps_;
};

TEST_F(ReconcileTest, NothingToDo) {
  bool asked = false, shown = false;
  deps_.confirm = [&](const Plan&) { return asked = true; };
  deps_.show_plan = [&](const Plan& p) { shown = !p.HasChanges(); };
  ReconcileResult r = Reconcile(request_, deps_);
  EXPECT_EQ(r.outcome, ReconcileOutcome::kNothingToDo) << r.message;
  EXPECT_TRUE(shown);
  EXPECT_FALSE(asked);
  EXPECT_TRUE(target_.writes.empty());
  EXPECT_EQ(LastRunOutcome(), "ok");
  EXPECT_FALSE(
      consul_.Has(PlatformHistoryKey("p")));  // nothing tried: not in the platform's history
  // The lock was released: another run takes it.
  EXPECT_EQ(Reconcile(request_, deps_).outcome, ReconcileOutcome::kNothingToDo);
}

TEST_F(ReconcileTest, DeclinedConfirmationWritesNothing) {
  WantWeb();
  int asked = 0;
  deps_.confirm = [&](const Plan& p) {
    ++asked;
    EXPECT_EQ(p.actions.size(), 1u);
    return false;
  };
  ReconcileResult r = Reconcile(request_, deps_);
  EXPECT_EQ(r.outcome, ReconcileOutcome::kNotConfirmed);
  EXPECT_EQ(r.message, "not applied");
  EXPECT_EQ(asked, 1);
  EXPECT_TRUE(target_.writes.empty());
  EXPECT_TRUE(target_.records.empty());
  EXPECT_EQ(LastRunOutcome(), "not-confirmed");
  EXPECT_FALSE(consul_.Has(PlatformHistoryKey("p")));
  auto applied = store_->PlanApplied(PlanDigest(r.plan));
  ASSERT_TRUE(applied.ok());
  EXPECT_FALSE(applied->has_value());
}

TEST_F(ReconcileTest, LockHeldByAnotherApply) {
  LockOptions other;
  other.platform = "p";
  other.holder = "alice@elsewhere pid 7";
  auto held = PlatformLock::Acquire(consul_, *store_, other);
  ASSERT_TRUE(held.ok()) << held.status().message();
  WantWeb();
  ReconcileResult r = Reconcile(request_, deps_);
  EXPECT_EQ(r.outcome, ReconcileOutcome::kLockHeld);
  EXPECT_NE(r.message.find("alice@elsewhere"), std::string::npos) << r.message;
  EXPECT_EQ(source_.observed, 0);  // nothing observed without the lock
  EXPECT_TRUE(target_.writes.empty());
  EXPECT_EQ(LastRunOutcome(), "failed");
}

TEST_F(ReconcileTest, StaleSavedPlanIsRefused) {
  source_.live.apps["/app/production/web"] = Live("/app/production/web", "v2");
  Plan saved;
  saved.platform = "p";
  saved.environments = {"production"};
  Action a;
  a.id = "app:/app/production/web";
  a.kind = ActionKind::kAppDelete;
  a.reason = Reason::kOrphan;
  a.env = "production";
  a.service = "web";
  a.target = "/app/production/web";
  a.token = "v1";  // planned against v1; live is v2
  saved.actions.push_back(a);
  request_.saved_plan = saved;
  request_.saved_plan_name = "plan.json";
  bool asked = false;
  deps_.confirm = [&](const Plan&) { return asked = true; };
  ReconcileResult r = Reconcile(request_, deps_);
  EXPECT_EQ(r.outcome, ReconcileOutcome::kStalePlan);
  EXPECT_EQ(r.message.rfind("the plan in plan.json is stale; plan again:\n  ", 0), 0u) << r.message;
  EXPECT_FALSE(asked);
  EXPECT_TRUE(target_.writes.empty());
}

TEST_F(ReconcileTest, SafetyRailsRefuseManyDeletesWithoutAllowLarge) {
  Plan saved;
  saved.platform = "p";
  saved.environments = {"production"};
  for (int i = 0; i < 11; ++i) {
    std::string id = "/app/production/s" + std::to_string(i);
    source_.live.apps[id] = Live(id, "v1");
    Action a;
    a.id = "app:" + id;
    a.kind = ActionKind::kAppDelete;
    a.reason = Reason::kOrphan;
    a.env = "production";
    a.service = "s" + std::to_string(i);
    a.target = id;
    a.token = "v1";
    saved.actions.push_back(a);
  }
  request_.saved_plan = saved;
  request_.saved_plan_name = "plan.json";
  ReconcileResult r = Reconcile(request_, deps_);
  EXPECT_EQ(r.outcome, ReconcileOutcome::kTooLarge);
  EXPECT_EQ(r.message,
            "refusing a large disruptive change without --allow-large:\n  environment production: "
            "11 deletes and 0 "
            "restarts exceed the limit of 10 (max of 10 and 25% of 11 apps)");
  EXPECT_TRUE(target_.writes.empty());

  request_.allow_large = true;
  for (const auto& [id, app] : source_.live.apps) {
    target_.apps[id] = app.body;
    target_.versions[id] = app.version;
  }
  r = Reconcile(request_, deps_);
  EXPECT_EQ(r.outcome, ReconcileOutcome::kApplied) << r.message;
  EXPECT_EQ(target_.writes.size(), 11u);
}

TEST_F(ReconcileTest, SuccessfulApplyEmitsPhasesAndRecords) {
  WantWeb();
  int asked = 0;
  deps_.confirm = [&](const Plan&) { return ++asked > 0; };
  ReconcileResult r = Reconcile(request_, deps_);
  ASSERT_EQ(r.outcome, ReconcileOutcome::kApplied) << r.message;
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(source_.observed, 2);  // once to plan, once more after the confirmation
  EXPECT_EQ(target_.writes, std::vector<std::string>{"create /app/production/web"});
  ASSERT_TRUE(r.applied.has_value());
  EXPECT_EQ(r.applied->applied, 1);
  EXPECT_EQ(r.summary["applied"], 1);
  EXPECT_EQ(r.summary["dry_run"], false);
  EXPECT_EQ(LastRunOutcome(), "ok");
  auto applied = store_->PlanApplied(PlanDigest(r.plan));
  ASSERT_TRUE(applied.ok());
  EXPECT_TRUE(applied->has_value());
  EXPECT_TRUE(consul_.Has(PlatformHistoryKey("p")));

  auto phases = events_.Lines(EventKind::kPhase);
  ASSERT_EQ(phases.size(), 1u);
  EXPECT_EQ(phases[0], "\nApplying 1 action (at most 16 at once, deadline 600 s per app)");
  // The executor's typed step events come through the same sink: the app step starts, then
  // finishes applied, and no line keeps a text elapsed-time prefix (it is `at`).
  int started = 0, finished = 0;
  for (const auto& e : events_.seen) {
    EXPECT_NE(e.line.substr(0, 1), "[") << e.line;
    if (e.kind == EventKind::kStepStarted) {
      ++started;
      EXPECT_EQ(finished, 0) << "a step finished before it started";
    }
    if (e.kind == EventKind::kStepFinished) {
      ++finished;
      ASSERT_TRUE(e.state.has_value());
      EXPECT_EQ(*e.state, StepState::kApplied) << e.line;
    }
  }
  EXPECT_EQ(started, 1);
  EXPECT_EQ(finished, 1);
}

TEST_F(ReconcileTest, DryRunSendsNothingAndShowsTheScheduleAndCalls) {
  WantWeb();
  deps_.confirm = [](const Plan&) -> bool {
    ADD_FAILURE() << "a dry run is not confirmed";
    return false;
  };
  request_.dry_run = true;
  ReconcileResult r = Reconcile(request_, deps_);
  ASSERT_EQ(r.outcome, ReconcileOutcome::kApplied) << r.message;
  EXPECT_TRUE(target_.writes.empty());
  EXPECT_EQ(LastRunOutcome(), "ok");
  auto phases = events_.Lines(EventKind::kPhase);
  ASSERT_EQ(phases.size(), 2u);
  EXPECT_EQ(phases[0].rfind("\nDry run: nothing is sent.", 0), 0u) << phases[0];
  EXPECT_NE(phases[0].find("  wave 1:\n"), std::string::npos) << phases[0];
  EXPECT_EQ(phases[1].rfind("Calls that would be made:\n  POST /v2/apps /app/production/web", 0),
            0u)
      << phases[1];
}

TEST(AppsPerEnvironmentTest, CountsTheLiveAppsOfTheEnvironmentsThePlanActsOn) {
  model::LiveState live;
  for (const char* id :
       {"/app/production/a", "/app/production/b", "/app/staging/a", "/app/productionx/a"}) {
    live.apps[id] = Live(id, "v1");
  }
  Plan plan;
  Action a;
  a.env = "production";
  plan.actions.push_back(a);
  auto counts = AppsPerEnvironment(plan, live);
  EXPECT_EQ(counts, (std::map<std::string, int>{{"production", 2}}));
}

}  // namespace
}  // namespace galley::engine
