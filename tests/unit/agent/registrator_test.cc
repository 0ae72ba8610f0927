// SPDX-License-Identifier: Apache-2.0
// The registrator's loop decisions against fakes (Marathon, the Consul agent, the event
// source) and a fake clock: killing deregisters at once and drains, a failed Marathon read
// keeps every registration, resyncs remove dangling ones, reconnects resync, failures back
// off and converge. One test runs the real two-thread Run with the real clock.
#include "agent/registrator.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "support/fake_clock.h"
#include "support/wait.h"

namespace galley::agent {
namespace {

using std::chrono::milliseconds;

model::DesiredState State() {
  model::DesiredState st;
  st.platform.environments = {{"production", "", "", false, {}, {}}};
  model::Service web;
  web.name = "test-server";
  web.ports = {{3000, model::Expose::kHttp, {}}};
  web.health = model::Health{"/healthcheck", 2, 10, 3, 5, {}};
  model::ServiceEnvironment prod;
  prod.name = "production";
  web.environments = {prod};
  st.services = {web};
  return st;
}

constexpr char kApp[] = "/app/production/test-server";

model::LiveTask Task(std::string id, std::string host, int port, std::string state = "TASK_RUNNING",
                     bool healthy = true) {
  model::LiveTask t;
  t.id = std::move(id);
  t.host = std::move(host);
  t.ports = {port};
  t.state = std::move(state);
  t.healthy = healthy;
  return t;
}

class FakeMarathon : public clients::MarathonClient {
 public:
  Result<std::vector<model::LiveApp>> ListApps(const std::vector<std::string>&) override {
    std::lock_guard<std::mutex> lock(mu);
    ++lists;
    if (!fail.ok()) return fail;
    model::LiveApp app;
    app.id = kApp;
    app.tasks = tasks;
    return std::vector<model::LiveApp>{app};
  }
  Result<model::LiveApp> GetApp(const std::string&) override { return No(); }
  Result<std::vector<std::string>> ListVersions(const std::string&) override { return No(); }
  Result<std::vector<clients::MarathonDeployment>> ListDeployments() override { return No(); }
  Result<clients::MarathonDeploymentResult> CreateApp(const nlohmann::json&, bool) override {
    return No();
  }
  Result<clients::MarathonDeploymentResult> UpdateApp(const std::string&, const nlohmann::json&,
                                                      bool) override {
    return No();
  }
  Result<clients::MarathonDeploymentResult> ScaleApp(const std::string&, int, bool) override {
    return No();
  }
  Result<clients::MarathonDeploymentResult> DeleteApp(const std::string&) override { return No(); }
  Result<clients::MarathonDeploymentResult> RestartApp(const std::string&, bool) override {
    return No();
  }
  Result<clients::MarathonDeploymentResult> CancelDeployment(const std::string&) override {
    return No();
  }
  Result<nlohmann::json> GetAppVersion(const std::string&, const std::string&) override {
    return No();
  }
  int requests() const override { return 0; }

  void Set(std::vector<model::LiveTask> t) {
    std::lock_guard<std::mutex> lock(mu);
    tasks = std::move(t);
  }
  void Fail(Status s) {
    std::lock_guard<std::mutex> lock(mu);
    fail = std::move(s);
  }
  int Lists() {
    std::lock_guard<std::mutex> lock(mu);
    return lists;
  }

 private:
  static Status No() { return Status::Internal("not used"); }
  std::mutex mu;
  std::vector<model::LiveTask> tasks;
  Status fail;
  int lists = 0;
};

class FakeAgent : public clients::ConsulAgentClient {
 public:
  Result<std::vector<clients::AgentService>> ListServices() override {
    std::lock_guard<std::mutex> lock(mu);
    if (!down.ok()) return down;
    std::vector<clients::AgentService> out;
    for (const auto& [id, s] : services) out.push_back(s);
    return out;
  }
  Status Register(const clients::AgentService& s) override {
    std::lock_guard<std::mutex> lock(mu);
    if (!down.ok()) return down;
    calls.push_back("register " + s.id);
    services[s.id] = s;
    services[s.id].check.reset();  // the listing shows no checks
    checks[s.id] = s.check;
    return Status::Ok();
  }
  Status Deregister(const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu);
    if (!down.ok()) return down;
    calls.push_back("deregister " + id);
    services.erase(id);
    return Status::Ok();
  }
  std::string url() const override { return "http://10.0.0.1:8500"; }

  std::vector<std::string> Ids() {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::string> out;
    for (const auto& [id, s] : services) out.push_back(id);
    return out;
  }
  std::vector<std::string> Calls() {
    std::lock_guard<std::mutex> lock(mu);
    return calls;
  }
  void Down(Status s) {
    std::lock_guard<std::mutex> lock(mu);
    down = std::move(s);
  }
  void Put(clients::AgentService s) {
    std::lock_guard<std::mutex> lock(mu);
    services[s.id] = std::move(s);
  }

  std::mutex mu;
  std::map<std::string, clients::AgentService> services;
  std::map<std::string, std::optional<clients::AgentCheck>> checks;
  std::vector<std::string> calls;
  Status down;
};

// The test drives the handler Run was given.
class FakeEvents : public clients::MarathonEventSource {
 public:
  void Run(const std::atomic<bool>& stop, const clients::MarathonEventHandler& handler) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      handler_ = handler;
      running_ = true;
    }
    while (!stop.load()) std::this_thread::sleep_for(milliseconds(5));
    std::lock_guard<std::mutex> lock(mu);
    running_ = false;
  }
  bool running() {
    std::lock_guard<std::mutex> lock(mu);
    return running_;
  }
  clients::MarathonEventHandler handler() {
    std::lock_guard<std::mutex> lock(mu);
    return handler_;
  }

 private:
  std::mutex mu;
  clients::MarathonEventHandler handler_;
  bool running_ = false;
};

clients::MarathonEvent StatusEvent(std::string task, std::string host, std::string status, int port,
                                   std::vector<std::string> ips = {}) {
  clients::MarathonEvent ev;
  ev.kind = clients::MarathonEvent::Kind::kStatusUpdate;
  ev.type = "status_update_event";
  ev.app_id = kApp;
  ev.task_id = std::move(task);
  ev.host = std::move(host);
  ev.task_status = std::move(status);
  ev.ports = {port};
  ev.ip_addresses = std::move(ips);
  return ev;
}

clients::MarathonEvent Health(std::string instance, bool alive) {
  clients::MarathonEvent ev;
  ev.kind = clients::MarathonEvent::Kind::kHealthChanged;
  ev.type = "health_status_changed_event";
  ev.app_id = kApp;
  ev.instance_id = std::move(instance);
  ev.alive = alive;
  return ev;
}

struct Fixture {
  model::DesiredState state = State();
  FakeMarathon marathon;
  FakeAgent agent;
  FakeEvents events;
  testing::FakeClock clock;
  std::mutex mu;
  std::vector<std::string> log;
  std::vector<std::vector<Endpoint>> killing;
  std::unique_ptr<Registrator> reg;

  explicit Fixture(RegistratorOptions o = {}) {
    o.node_name = "node-1";
    o.node_address = "10.0.0.1";
    o.clock = &clock;
    o.log = [this](std::string line) {
      std::lock_guard<std::mutex> lock(mu);
      log.push_back(std::move(line));
    };
    o.on_killing = [this](std::vector<Endpoint> e) {
      std::lock_guard<std::mutex> lock(mu);
      killing.push_back(std::move(e));
    };
    reg = std::make_unique<Registrator>(&marathon, &agent, &events, &state, o);
  }
  bool Logged(const std::string& part) {
    std::lock_guard<std::mutex> lock(mu);
    return std::any_of(log.begin(), log.end(),
                       [&](const std::string& l) { return l.find(part) != std::string::npos; });
  }
  std::string Log() {
    std::lock_guard<std::mutex> lock(mu);
    std::string out;
    for (const auto& l : log) out += l + "\n";
    return out;
  }
};

clients::AgentService Ours(std::string id, std::string task, int port,
                           std::string node = "node-1") {
  clients::AgentService s;
  s.id = std::move(id);
  s.name = "test-server";
  s.tags = {"production", "internal-listen-http-3000"};
  s.address = "10.0.0.1";
  s.port = port;
  s.meta = {{kMetaTask, std::move(task)}, {kMetaNode, std::move(node)}};
  return s;
}

using Ids = std::vector<std::string>;

TEST(RegistratorTest, SyncOnceRegistersHealthyLocalTasksWithTheMirroredCheck) {
  Fixture f;
  f.marathon.Set({Task("web.1", "node-1", 31001), Task("web.2", "node-2", 31002),
                  Task("web.3", "node-1", 31003, "TASK_RUNNING", false)});
  auto r = f.reg->SyncOnce();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->registered, 1);
  EXPECT_EQ(f.agent.Ids(), Ids{"web.1-0"});
  const auto& s = f.agent.services.at("web.1-0");
  EXPECT_EQ(s.name, "test-server");
  EXPECT_EQ(s.address, "10.0.0.1");
  EXPECT_EQ(s.port, 31001);
  EXPECT_EQ(s.meta.at("galley-task"), "web.1");
  EXPECT_EQ(s.meta.at("galley-node"), "node-1");
  ASSERT_TRUE(f.agent.checks.at("web.1-0").has_value());
  EXPECT_EQ(f.agent.checks.at("web.1-0")->target, "http://10.0.0.1:31001/healthcheck");
  EXPECT_EQ(f.agent.checks.at("web.1-0")->interval_s, 10);
  EXPECT_TRUE(f.Logged("registrator: registered web.1-0 as test-server at 10.0.0.1:31001"))
      << f.Log();
  // A second sync changes nothing.
  auto again = f.reg->SyncOnce();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->registered, 0);
  EXPECT_EQ(again->unchanged, 1);
}

TEST(RegistratorTest, ResyncRemovesDanglingRegistrationsButNotOthers) {
  Fixture f;
  f.marathon.Set({Task("web.1", "node-1", 31001)});
  f.agent.Put(Ours("web.0-0", "web.0", 31000));            // a task that no longer exists
  f.agent.Put(Ours("web.9-0", "web.9", 31009, "node-2"));  // another node's
  clients::AgentService foreign;
  foreign.id = "redis";
  foreign.name = "redis";
  f.agent.Put(foreign);  // not galley's
  auto r = f.reg->SyncOnce();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->deregistered, 1);
  EXPECT_EQ(f.agent.Ids(), (Ids{"redis", "web.1-0", "web.9-0"}));
  EXPECT_TRUE(f.Logged("deregistered web.0-0: task is gone")) << f.Log();
}

TEST(RegistratorTest, AFailedMarathonReadKeepsEveryRegistration) {
  Fixture f;
  f.agent.Put(Ours("web.1-0", "web.1", 31001));
  f.marathon.Fail(Status::Unavailable("marathon http://m:8080: GET /v2/apps: connection refused"));
  auto r = f.reg->SyncOnce();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "cannot read Marathon, registrations left as they are: marathon http://m:8080: GET "
            "/v2/apps: connection refused");
  EXPECT_EQ(f.agent.Ids(), Ids{"web.1-0"});
  EXPECT_TRUE(f.agent.Calls().empty());
  EXPECT_TRUE(f.Logged("registrator: cannot read Marathon")) << f.Log();
}

TEST(RegistratorTest, KillingDeregistersAtOnceAndDrainsWithoutAMarathonRead) {
  Fixture f;
  f.marathon.Set({Task("web.1", "node-1", 31001)});
  ASSERT_TRUE(f.reg->SyncOnce().ok());
  int lists = f.marathon.Lists();
  f.reg->HandleEvent(StatusEvent("web.1", "node-1", "TASK_KILLING", 31001, {"10.0.0.1"}));
  EXPECT_EQ(f.agent.Ids(), Ids{});
  EXPECT_EQ(f.marathon.Lists(), lists);  // no read needed
  ASSERT_EQ(f.killing.size(), 1u);
  EXPECT_EQ(f.killing[0], (std::vector<Endpoint>{{"10.0.0.1", 31001}, {"node-1", 31001}}));
  EXPECT_TRUE(f.Logged("deregistered web.1-0: task is TASK_KILLING")) << f.Log();
  // A resync whose read still shows the task running does not bring it back.
  ASSERT_TRUE(f.reg->SyncOnce().ok());
  EXPECT_EQ(f.agent.Ids(), Ids{});
}

TEST(RegistratorTest, AKillWhoseDeregistrationFailedIsRetriedByTheResyncDespiteAStaleRead) {
  Fixture f;
  f.marathon.Set({Task("web.1", "node-1", 31001)});
  f.reg->RunDue();
  ASSERT_EQ(f.agent.Ids(), Ids{"web.1-0"});
  f.agent.Down(Status::Unavailable("consul-agent http://10.0.0.1:8500: connection refused"));
  f.reg->HandleEvent(StatusEvent("web.1", "node-1", "TASK_KILLING", 31001));
  EXPECT_EQ(f.killing.size(), 1u);  // drained although the agent is down
  EXPECT_TRUE(
      f.Logged("cannot deregister web.1-0 (task is TASK_KILLING): consul-agent "
               "http://10.0.0.1:8500: connection refused"))
      << f.Log();
  f.agent.Down(Status::Ok());
  f.reg->RunDue();  // asked for at once; Marathon's read still says RUNNING
  EXPECT_EQ(f.agent.Ids(), Ids{});
  EXPECT_TRUE(f.Logged("deregistered web.1-0: task is being killed")) << f.Log();
}

TEST(RegistratorTest, KillingOnAnotherNodeDrainsButTouchesNoRegistration) {
  Fixture f;
  f.marathon.Set({Task("web.1", "node-1", 31001)});
  ASSERT_TRUE(f.reg->SyncOnce().ok());
  f.reg->HandleEvent(StatusEvent("web.2", "node-2", "TASK_KILLING", 31002, {"10.0.0.2"}));
  EXPECT_EQ(f.agent.Ids(), Ids{"web.1-0"});
  EXPECT_EQ(f.agent.Calls(), Ids{"register web.1-0"});
  ASSERT_EQ(f.killing.size(), 1u);
  EXPECT_EQ(f.killing[0], (std::vector<Endpoint>{{"10.0.0.2", 31002}, {"node-2", 31002}}));
}

clients::MarathonEvent InstanceChanged(std::string instance, std::string condition,
                                       std::string host = "node-2") {
  clients::MarathonEvent ev;
  ev.kind = clients::MarathonEvent::Kind::kInstanceChanged;
  ev.type = "instance_changed_event";
  ev.app_id = kApp;
  ev.instance_id = std::move(instance);
  ev.condition = std::move(condition);
  ev.host = std::move(host);
  return ev;
}

TEST(RegistratorTest, AGoalChangeBeforeTheKillDrainsEarlyOnlyForARunningInstance) {
  Fixture f;
  // Marathon 1.8 ids: task <instance>._app.<n>.
  f.marathon.Set({Task("web.instance-a._app.1", "node-2", 31002),
                  Task("web.instance-b._app.1", "node-1", 31001)});
  ASSERT_TRUE(f.reg->SyncOnce().ok());
  // The last read saw instance-a running: "Running" again is the goal change before its kill.
  f.reg->HandleEvent(InstanceChanged("web.instance-a", "Running"));
  ASSERT_EQ(f.killing.size(), 1u);
  EXPECT_EQ(f.killing[0], (std::vector<Endpoint>{{"node-2", 31002}}));
  EXPECT_TRUE(f.Logged("its instance's goal changed")) << f.Log();
  // Nothing is deregistered on a hint: TASK_KILLING does that.
  EXPECT_EQ(f.agent.Ids(), Ids{"web.instance-b._app.1-0"});
  // A new instance: Provisioned then Running is a change of condition, not a hint; Running
  // again after that is.
  f.reg->HandleEvent(InstanceChanged("web.instance-c", "Provisioned"));
  f.reg->HandleEvent(StatusEvent("web.instance-c._app.1", "node-2", "TASK_RUNNING", 31003));
  f.reg->HandleEvent(InstanceChanged("web.instance-c", "Running"));
  EXPECT_EQ(f.killing.size(), 1u);
  f.reg->HandleEvent(InstanceChanged("web.instance-c", "Running"));
  ASSERT_EQ(f.killing.size(), 2u);
  EXPECT_EQ(f.killing[1], (std::vector<Endpoint>{{"node-2", 31003}}));
  // An instance never seen running (no read, no event) gives no hint.
  f.reg->HandleEvent(InstanceChanged("web.instance-z", "Running"));
  EXPECT_EQ(f.killing.size(), 2u);
  // A health kill is announced before it happens: drained at once, this node's too.
  clients::MarathonEvent unhealthy;
  unhealthy.kind = clients::MarathonEvent::Kind::kUnhealthyKill;
  unhealthy.type = "unhealthy_instance_kill_event";
  unhealthy.instance_id = "web.instance-b";
  f.reg->HandleEvent(unhealthy);
  ASSERT_EQ(f.killing.size(), 3u);
  EXPECT_EQ(f.killing[2], (std::vector<Endpoint>{{"10.0.0.1", 31001}, {"node-1", 31001}}));
}

TEST(RegistratorTest, AResyncDrainsAKillItsEventsMissedOnce) {
  Fixture f;
  f.marathon.Set({Task("web.2", "node-2", 31002, "TASK_KILLING"),
                  Task("web.1", "node-1", 31001, "TASK_KILLING")});
  ASSERT_TRUE(f.reg->SyncOnce().ok());
  ASSERT_TRUE(f.reg->SyncOnce().ok());
  ASSERT_EQ(f.killing.size(), 2u);
  std::set<std::vector<Endpoint>> got(f.killing.begin(), f.killing.end());
  EXPECT_EQ(got, (std::set<std::vector<Endpoint>>{{{"10.0.0.1", 31001}, {"node-1", 31001}},
                                                  {{"node-2", 31002}}}));
  EXPECT_TRUE(f.agent.Ids().empty());
  // The TASK_KILLING event arriving late drains again (idempotent), deregisters nothing new.
  f.reg->HandleEvent(StatusEvent("web.2", "node-2", "TASK_KILLING", 31002));
  EXPECT_EQ(f.killing.size(), 3u);
}

TEST(RegistratorTest, AnUnreachableTaskIsDeregisteredAndDrainedButMayComeBack) {
  Fixture f;
  f.marathon.Set({Task("web.1", "node-1", 31001)});
  f.reg->RunDue();
  f.reg->HandleEvent(StatusEvent("web.1", "node-1", "TASK_UNREACHABLE", 31001));
  EXPECT_EQ(f.agent.Ids(), Ids{});
  EXPECT_EQ(f.killing.size(), 1u);
  f.reg->HandleEvent(StatusEvent("web.1", "node-1", "TASK_RUNNING", 31001));
  f.clock.Advance(milliseconds(150));
  f.reg->RunDue();
  EXPECT_EQ(f.agent.Ids(), Ids{"web.1-0"});
}

TEST(RegistratorTest, TerminalStatesDeregisterTooAndRegistrationsOfAPreviousRunAreFound) {
  Fixture f;
  // Registered by an earlier agent process: this one has not listed the agent yet.
  f.agent.Put(Ours("web.1-0", "web.1", 31001));
  f.reg->HandleEvent(StatusEvent("web.1", "node-1", "TASK_FAILED", 31001));
  EXPECT_EQ(f.agent.Ids(), Ids{});
}

TEST(RegistratorTest, FailingHealthDeregistersAtOnceAndRecoveryRegistersAfterAResync) {
  Fixture f;
  f.marathon.Set({Task("web.instance-1._app.1", "node-1", 31001)});
  f.reg->RunDue();  // the start's resync
  EXPECT_EQ(f.agent.Ids(), Ids{"web.instance-1._app.1-0"});
  f.marathon.Set({Task("web.instance-1._app.1", "node-1", 31001, "TASK_RUNNING", false)});
  f.reg->HandleEvent(Health("web.instance-1", false));
  EXPECT_EQ(f.agent.Ids(), Ids{});
  EXPECT_TRUE(f.killing.empty());  // not killed: HAProxy's own checks see it
  EXPECT_TRUE(f.Logged("deregistered web.instance-1._app.1-0: task failed its health check"))
      << f.Log();
  // Healthy again: the event asks for a resync, coalesced, which registers it.
  f.marathon.Set({Task("web.instance-1._app.1", "node-1", 31001)});
  f.reg->HandleEvent(Health("web.instance-1", true));
  f.reg->RunDue();
  EXPECT_EQ(f.agent.Ids(), Ids{});  // not before the coalescing delay
  f.clock.Advance(milliseconds(150));
  f.reg->RunDue();
  EXPECT_EQ(f.agent.Ids(), Ids{"web.instance-1._app.1-0"});
}

TEST(RegistratorTest, EventBurstsCoalesceIntoOneResyncAndOtherNodesEventsAreIgnored) {
  Fixture f;
  f.reg->RunDue();  // the start's resync
  EXPECT_EQ(f.marathon.Lists(), 1);
  for (int i = 0; i < 20; ++i) {
    f.reg->HandleEvent(
        StatusEvent("web." + std::to_string(i), "node-1", "TASK_RUNNING", 31000 + i));
    f.reg->HandleEvent(StatusEvent("x." + std::to_string(i), "node-2", "TASK_RUNNING", 31000 + i));
    f.clock.Advance(milliseconds(5));
    f.reg->RunDue();
  }
  f.clock.Advance(milliseconds(150));
  f.reg->RunDue();
  EXPECT_EQ(f.marathon.Lists(), 2);
  f.reg->HandleEvent(StatusEvent("x.99", "node-2", "TASK_RUNNING", 31099));
  f.clock.Advance(milliseconds(1000));
  f.reg->RunDue();
  EXPECT_EQ(f.marathon.Lists(), 2);
}

TEST(RegistratorTest, HealthEventsResyncUnlessTheTaskRunsElsewhere) {
  Fixture f;
  f.marathon.Set({Task("x.instance-1._app.1", "node-2", 31001)});
  f.reg->RunDue();
  EXPECT_EQ(f.marathon.Lists(), 1);
  f.reg->HandleEvent(Health("x.instance-1", true));  // node-2's
  f.clock.Advance(milliseconds(200));
  f.reg->RunDue();
  EXPECT_EQ(f.marathon.Lists(), 1);
  f.reg->HandleEvent(Health("x.instance-2", true));  // newer than the read: maybe ours
  f.clock.Advance(milliseconds(200));
  f.reg->RunDue();
  EXPECT_EQ(f.marathon.Lists(), 2);
}

TEST(RegistratorTest, ReconnectResyncsAtOnceAndPeriodicResyncsRun) {
  RegistratorOptions o;
  o.resync_interval = milliseconds(60000);
  Fixture f(o);
  f.reg->RunDue();
  EXPECT_EQ(f.marathon.Lists(), 1);
  f.reg->HandleDisconnected(Status::Unavailable("marathon http://m:8080: GET /v2/events: reset"));
  EXPECT_TRUE(f.Logged("event stream lost (marathon http://m:8080: GET /v2/events: reset)"))
      << f.Log();
  f.reg->HandleConnected("http://m:8080");
  auto next = f.reg->RunDue();
  EXPECT_EQ(f.marathon.Lists(), 2);
  EXPECT_EQ(next - f.clock.Now(), milliseconds(60000));
  f.clock.Advance(milliseconds(60000));
  f.reg->RunDue();
  EXPECT_EQ(f.marathon.Lists(), 3);
}

TEST(RegistratorTest, AnUnreachableAgentIsRetriedWithBackoffAndConvergesWhenBack) {
  RegistratorOptions o;
  o.initial_backoff = milliseconds(500);
  o.max_backoff = milliseconds(2000);
  Fixture f(o);
  f.marathon.Set({Task("web.1", "node-1", 31001)});
  f.agent.Down(Status::Unavailable(
      "consul-agent http://10.0.0.1:8500: GET /v1/agent/services: connection refused"));
  auto next = f.reg->RunDue();
  EXPECT_EQ(next - f.clock.Now(), milliseconds(500));
  EXPECT_TRUE(
      f.Logged("registrator: cannot list the Consul agent's services: consul-agent "
               "http://10.0.0.1:8500: GET /v1/agent/services: connection refused"))
      << f.Log();
  std::vector<int64_t> waits;
  for (int i = 0; i < 4; ++i) {
    f.clock.Advance(std::chrono::duration_cast<milliseconds>(next - f.clock.Now()));
    next = f.reg->RunDue();
    waits.push_back(std::chrono::duration_cast<milliseconds>(next - f.clock.Now()).count());
  }
  EXPECT_EQ(waits, (std::vector<int64_t>{1000, 2000, 2000, 2000}));
  f.agent.Down(Status::Ok());
  f.clock.Advance(std::chrono::duration_cast<milliseconds>(next - f.clock.Now()));
  next = f.reg->RunDue();
  EXPECT_EQ(f.agent.Ids(), Ids{"web.1-0"});
  EXPECT_EQ(next - f.clock.Now(), milliseconds(60000));  // back to the periodic resync
}

TEST(RegistratorTest, RunFollowsEventsOnItsOwnThreadAndStops) {
  // The real two-thread loop with the real clock (short intervals).
  RegistratorOptions o;
  o.coalesce = milliseconds(10);
  model::DesiredState state = State();
  FakeMarathon marathon;
  FakeAgent agent;
  FakeEvents events;
  o.node_name = "node-1";
  o.node_address = "10.0.0.1";
  std::atomic<int> drained{0};
  o.on_killing = [&](std::vector<Endpoint>) { ++drained; };
  Registrator reg(&marathon, &agent, &events, &state, o);
  marathon.Set({Task("web.1", "node-1", 31001)});
  std::atomic<bool> stop{false};
  std::thread runner([&] { reg.Run(stop); });
  ASSERT_TRUE(
      testing::Eventually([&] { return agent.Ids() == Ids{"web.1-0"} && events.running(); }));
  // A new task: its RUNNING event leads to a resync that registers it.
  marathon.Set({Task("web.1", "node-1", 31001), Task("web.2", "node-1", 31002)});
  events.handler().on_event(StatusEvent("web.2", "node-1", "TASK_RUNNING", 31002));
  ASSERT_TRUE(testing::Eventually([&] { return agent.Ids() == Ids{"web.1-0", "web.2-0"}; }));
  events.handler().on_event(StatusEvent("web.1", "node-1", "TASK_KILLING", 31001));
  EXPECT_EQ(agent.Ids(), Ids{"web.2-0"});  // synchronously, on the event's thread
  EXPECT_EQ(drained.load(), 1);
  // Reconnect: a resync at once (the dangling registration of a gone task goes).
  agent.Put(Ours("web.0-0", "web.0", 31000));
  events.handler().on_connected("http://m:8080");
  ASSERT_TRUE(testing::Eventually([&] { return agent.Ids() == Ids{"web.2-0"}; }));
  stop = true;
  runner.join();
  EXPECT_FALSE(events.running());
}

}  // namespace
}  // namespace galley::agent
