// SPDX-License-Identifier: Apache-2.0
// The load-balancer manager's loop against fakes (lb_fakes.h): no sockets, no processes, a
// fake clock; files only in a temporary run dir.
#include "agent/lb_manager.h"

#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>

#include "base/file_io.h"
#include "support/fake_clock.h"
#include "unit/agent/lb_fakes.h"

namespace galley::agent {
namespace {

using testing::FakeConsul;
using testing::FakeMaster;
using testing::FakeRuntime;
using testing::MakeModel;

const char kBackend[] = "cluster_production:web";

class LbManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/galley-lbm-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    master_ = std::make_unique<FakeMaster>(&runtime_, LbManager::ConfigPath(dir_, "internal"));
    PublishModel({"web"});
    consul_.SetInstances("web", {FakeConsul::Inst("n1", "10.0.0.1", 31001),
                                 FakeConsul::Inst("n2", "10.0.0.2", 31002)});
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void PublishModel(const std::vector<std::string>& names, const std::string& balance = "") {
    consul_.SetKv(render::LbModelKey("plat", "internal"),
                  render::LbModelToJson(MakeModel(names, balance)));
  }
  std::unique_ptr<LbManager> Manager(std::function<bool()> may_manage = nullptr) {
    LbManagerOptions o;
    o.platform = "plat";
    o.node = "n1";
    o.instance = "internal";
    o.bind_address = "127.0.0.1";
    o.run_dir = dir_;
    o.drain_timeout = std::chrono::milliseconds(2000);
    LbManagerDeps d;
    d.consul = &consul_;
    d.runtime = &runtime_;
    d.master = master_.get();
    d.clock = &clock_;
    d.log = [this](const std::string& line) { logs_.push_back(line); };
    d.on_report = [this](const render::AgentReport& r) { reports_.push_back(r); };
    d.may_manage = std::move(may_manage);
    return std::make_unique<LbManager>(o, d);
  }
  std::string ConfigOnDisk() {
    auto t = ReadFileBounded(LbManager::ConfigPath(dir_, "internal"), 1 << 20);
    return t.ok() ? *t : "";
  }
  std::string Logs() { return Join(logs_, "\n"); }

  std::string dir_;
  FakeConsul consul_;
  FakeRuntime runtime_;
  std::unique_ptr<FakeMaster> master_;
  galley::testing::FakeClock clock_;
  std::vector<std::string> logs_;
  std::vector<render::AgentReport> reports_;
};

TEST_F(LbManagerTest, ColdStartWritesAndStartsHaproxyWithTheMembership) {
  auto lb = Manager();
  Status st = lb->SyncOnce();
  ASSERT_TRUE(st.ok()) << st.ToString() << "\n" << Logs();
  EXPECT_EQ(master_->starts, 1);
  // HAProxy's start parses the file itself: no separate `haproxy -c` before it.
  EXPECT_EQ(master_->checks, 0);
  std::string cfg = ConfigOnDisk();
  EXPECT_NE(cfg.find("server n1-31001 10.0.0.1:31001"), std::string::npos) << cfg;
  EXPECT_NE(cfg.find("server-state-file " + LbManager::ServerStatePath(dir_, "internal")),
            std::string::npos);
  EXPECT_NE(cfg.find("stats socket " + LbManager::StatsSocketPath(dir_, "internal")),
            std::string::npos);
  EXPECT_NE(cfg.find("bind 127.0.0.1:8080"), std::string::npos);
  ASSERT_NE(runtime_.Find(kBackend, "n2-31002"), nullptr);
  auto r = lb->Report();
  EXPECT_EQ(r.haproxy_pid, master_->pid);
  EXPECT_EQ(r.model_digest, render::LbModelDigest(MakeModel({"web"})));
  EXPECT_EQ(r.config_digest.rfind("sha256:", 0), 0u);
  EXPECT_EQ(r.last_reload_reason, "started");
  EXPECT_EQ(r.servers["up"], 2);
  EXPECT_EQ(r.last_error, "");
  ASSERT_FALSE(reports_.empty());
}

TEST_F(LbManagerTest, MembershipChangesUseTheRuntimeApiAndRewriteTheFileWithoutReload) {
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok());
  consul_.SetInstances("web", {FakeConsul::Inst("n1", "10.0.0.1", 31001),
                               FakeConsul::Inst("n3", "10.0.0.3", 31003)});
  Status st = lb->SyncOnce();
  ASSERT_TRUE(st.ok()) << st.ToString() << "\n" << Logs();
  EXPECT_EQ(master_->reloads, 0);
  EXPECT_EQ(master_->starts, 1);
  ASSERT_NE(runtime_.Find(kBackend, "n3-31003"), nullptr);
  EXPECT_EQ(runtime_.Find(kBackend, "n3-31003")->admin, 0);
  EXPECT_EQ(runtime_.Find(kBackend, "n2-31002"), nullptr);  // drained, maint, deleted
  EXPECT_EQ(runtime_.CountCommands("set server " + std::string(kBackend) + "/n2-31002 state drain"),
            1);
  EXPECT_EQ(runtime_.CountCommands("del server " + std::string(kBackend) + "/n2-31002"), 1);
  std::string cfg = ConfigOnDisk();
  EXPECT_NE(cfg.find("n3-31003 10.0.0.3:31003"), std::string::npos);
  EXPECT_EQ(cfg.find("n2-31002"), std::string::npos);
  EXPECT_EQ(lb->stats().file_rewrites, 1);
  // Nothing changed: nothing sent, nothing written.
  int sent = lb->stats().runtime_commands;
  ASSERT_TRUE(lb->SyncOnce().ok());
  EXPECT_EQ(lb->stats().runtime_commands, sent);
  EXPECT_EQ(lb->stats().file_rewrites, 1);
}

TEST_F(LbManagerTest, ADrainWaitsForSessionsOrTheTimeoutBeforeMaintAndDelete) {
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok());
  runtime_.Find(kBackend, "n2-31002")->scur = 3;
  consul_.SetInstances("web", {FakeConsul::Inst("n1", "10.0.0.1", 31001)});
  Status st = lb->SyncOnce();  // waits out drain_timeout on the fake clock
  ASSERT_TRUE(st.ok()) << st.ToString();
  // Sessions never reached 0: after the timeout it went to maint; del waits for connections.
  auto* s = runtime_.Find(kBackend, "n2-31002");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->admin, kAdminForcedMaint);
  runtime_.Find(kBackend, "n2-31002")->scur = 0;
  ASSERT_TRUE(lb->SyncOnce().ok());
  EXPECT_EQ(runtime_.Find(kBackend, "n2-31002"), nullptr);
  EXPECT_EQ(master_->reloads, 0);
}

TEST_F(LbManagerTest, AStructureChangeIsCheckedThenReloadedOnce) {
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok());
  PublishModel({"api", "web"});
  consul_.SetInstances("api", {FakeConsul::Inst("n1", "10.0.0.1", 32001)});
  Status st = lb->SyncOnce();
  ASSERT_TRUE(st.ok()) << st.ToString() << "\n" << Logs();
  EXPECT_EQ(master_->reloads, 1);
  EXPECT_EQ(master_->checks, 1);  // a reload of a running HAProxy is checked first
  EXPECT_NE(runtime_.Find("cluster_production:api", "n1-32001"), nullptr);
  auto r = lb->Report();
  EXPECT_NE(r.last_reload_reason.find("structure changed"), std::string::npos)
      << r.last_reload_reason;
  EXPECT_EQ(r.model_digest, render::LbModelDigest(MakeModel({"api", "web"})));
  EXPECT_TRUE(std::filesystem::exists(LbManager::ConfigPath(dir_, "internal") + ".prev"));
  ASSERT_TRUE(lb->SyncOnce().ok());
  EXPECT_EQ(master_->reloads, 1);  // converged: no second reload
}

TEST_F(LbManagerTest, AModelRenderingAnInvalidConfigIsNeverLoadedAndIsReported) {
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok());
  std::string before = ConfigOnDisk();
  PublishModel({"web"}, "bogus");
  Status st = lb->SyncOnce();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not loaded"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("[ALERT] balance bogus"), std::string::npos) << st.message();
  EXPECT_EQ(master_->reloads, 0);
  EXPECT_EQ(ConfigOnDisk(), before);
  EXPECT_NE(lb->Report().last_error.find("not loaded"), std::string::npos);
  EXPECT_EQ(lb->Report().model_digest, render::LbModelDigest(MakeModel({"web"})));
  // Membership still lands with the last good model, and the bad one is not re-checked.
  int checks = master_->checks;
  consul_.SetInstances(
      "web", {FakeConsul::Inst("n1", "10.0.0.1", 31001), FakeConsul::Inst("n2", "10.0.0.2", 31002),
              FakeConsul::Inst("n4", "10.0.0.4", 31004)});
  st = lb->SyncOnce();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(runtime_.Find(kBackend, "n4-31004"), nullptr);
  EXPECT_EQ(master_->checks, checks);
  EXPECT_EQ(master_->reloads, 0);
  // A fixed model converges.
  PublishModel({"web"});
  st = lb->SyncOnce();
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(lb->Report().last_error, "");
}

TEST_F(LbManagerTest, AFirstModelHaproxyRefusesAtStartIsReportedAndLeavesNoConfig) {
  PublishModel({"web"}, "bogus");
  auto lb = Manager();
  Status st = lb->SyncOnce();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(master_->start_attempts, 1);
  EXPECT_EQ(master_->starts, 0);
  EXPECT_EQ(master_->checks, 1);  // run after the failed start, to name the refusal
  EXPECT_NE(st.message().find("not loaded"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("[ALERT] balance bogus"), std::string::npos) << st.message();
  EXPECT_FALSE(std::filesystem::exists(LbManager::ConfigPath(dir_, "internal")));
  // The model is remembered as refused (not started again as is); a fixed one starts.
  EXPECT_FALSE(lb->SyncOnce().ok());
  EXPECT_EQ(master_->start_attempts, 1);
  PublishModel({"web"});
  st = lb->SyncOnce();
  ASSERT_TRUE(st.ok()) << st.ToString() << "\n" << Logs();
  EXPECT_EQ(master_->starts, 1);
  EXPECT_NE(runtime_.Find(kBackend, "n2-31002"), nullptr);
}

TEST_F(LbManagerTest, ARestartWithARefusedModelPutsBackThePreviousConfigAndStartsTheLastGood) {
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok());
  std::string good = ConfigOnDisk();
  master_->Kill();
  PublishModel({"web"}, "bogus");
  Status st = lb->SyncOnce();
  EXPECT_FALSE(st.ok());  // the refused model is reported
  EXPECT_NE(st.message().find("not loaded"), std::string::npos) << st.message();
  EXPECT_EQ(master_->starts, 2);  // started again with the last good model
  EXPECT_TRUE(master_->running);
  EXPECT_EQ(ConfigOnDisk().find("bogus"), std::string::npos);
  EXPECT_NE(runtime_.Find(kBackend, "n1-31001"), nullptr);
}

TEST_F(LbManagerTest, FallingBackToTheLastGoodModelKeepsItsServicesServers) {
  PublishModel({"api", "web"});
  consul_.SetInstances("api", {FakeConsul::Inst("n1", "10.0.0.1", 32001)});
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok());
  PublishModel({"web"}, "bogus");  // drops api, and is refused
  EXPECT_FALSE(lb->SyncOnce().ok());
  EXPECT_NE(runtime_.Find("cluster_production:api", "n1-32001"), nullptr);
  EXPECT_EQ(runtime_.CountCommands("set server cluster_production:api"), 0);
  EXPECT_EQ(master_->reloads, 0);
}

TEST_F(LbManagerTest, AModelThatDoesNotParseIsReportedAndTheLastGoodOneStays) {
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok());
  consul_.SetKv(render::LbModelKey("plat", "internal"), "{not json");
  Status st = lb->SyncOnce();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("is invalid, not loaded"), std::string::npos) << st.message();
  EXPECT_EQ(master_->reloads, 0);
  EXPECT_EQ(runtime_.ServerCount(), 2u);
}

TEST_F(LbManagerTest, ConsulFailuresKeepTheLastKnownMembership) {
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok());
  std::string before = ConfigOnDisk();
  consul_.fail_reads = true;
  Status st = lb->SyncOnce();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("last known instances kept"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("connection refused"), std::string::npos);
  EXPECT_EQ(runtime_.ServerCount(), 2u);
  EXPECT_EQ(runtime_.CountCommands("set server"), 0);
  EXPECT_EQ(runtime_.CountCommands("del server"), 0);
  EXPECT_EQ(ConfigOnDisk(), before);
  EXPECT_EQ(master_->reloads, 0);
  // Consul back, with a change: it lands.
  consul_.fail_reads = false;
  consul_.SetInstances("web", {FakeConsul::Inst("n1", "10.0.0.1", 31001)});
  ASSERT_TRUE(lb->SyncOnce().ok());
  EXPECT_EQ(runtime_.ServerCount(), 1u);
}

TEST_F(LbManagerTest, ColdStartWithConsulDownLeavesHaproxyAloneOrStartsItFromDisk) {
  {
    auto lb = Manager();
    ASSERT_TRUE(lb->SyncOnce().ok());
  }
  master_->Kill();
  consul_.fail_reads = true;
  auto lb = Manager();  // a restarted agent
  Status st = lb->SyncOnce();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(master_->running);  // from the config on disk
  EXPECT_EQ(master_->starts, 2);
  EXPECT_EQ(runtime_.ServerCount(), 2u);
  EXPECT_NE(Logs().find("starting it from the config on disk"), std::string::npos) << Logs();
}

TEST_F(LbManagerTest, DrainPutsMatchingServersToDrainAtTheNextSync) {
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok());
  runtime_.Find(kBackend, "n1-31001")->scur = 1;  // keeps it in drain
  lb->Drain({{"10.0.0.1", 31001}});
  (void)lb->SyncOnce();
  auto* s = runtime_.Find(kBackend, "n1-31001");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(runtime_.CountCommands("set server " + std::string(kBackend) + "/n1-31001 state drain"),
            1);
  EXPECT_EQ(s->admin, kAdminForcedMaint);          // drain timed out on the fake clock → maint
  EXPECT_TRUE(lb->Report().hand_changes.empty());  // galley's own doing
  // Consul drops the task: deleted, no reload.
  s->scur = 0;
  consul_.SetInstances("web", {FakeConsul::Inst("n2", "10.0.0.2", 31002)});
  ASSERT_TRUE(lb->SyncOnce().ok());
  EXPECT_EQ(runtime_.Find(kBackend, "n1-31001"), nullptr);
  EXPECT_EQ(master_->reloads, 0);
  // A new task reusing the port later is added normally (the kill is forgotten once Consul
  // dropped the old one).
  consul_.SetInstances("web", {FakeConsul::Inst("n1", "10.0.0.1", 31001),
                               FakeConsul::Inst("n2", "10.0.0.2", 31002)});
  ASSERT_TRUE(lb->SyncOnce().ok());
  ASSERT_NE(runtime_.Find(kBackend, "n1-31001"), nullptr);
  EXPECT_EQ(runtime_.Find(kBackend, "n1-31001")->admin, 0);
}

TEST_F(LbManagerTest, AMembershipChangeReadsOnlyTheChangedBackendsState) {
  PublishModel({"web", "api"});
  consul_.SetInstances("api", {FakeConsul::Inst("n1", "10.0.0.1", 32001)});
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok());  // starts HAProxy
  ASSERT_TRUE(lb->SyncOnce().ok());  // compares everything once: remembered
  runtime_.commands.clear();
  consul_.SetInstances("web", {FakeConsul::Inst("n1", "10.0.0.1", 31001),
                               FakeConsul::Inst("n3", "10.0.0.3", 31003)});
  Status st = lb->SyncOnce();
  ASSERT_TRUE(st.ok()) << st.ToString() << "\n" << Logs();
  EXPECT_EQ(runtime_.CountCommands("show servers state " + std::string(kBackend)), 2)
      << Join(runtime_.commands, "\n");  // before and after the commands
  EXPECT_EQ(std::count(runtime_.commands.begin(), runtime_.commands.end(), "show servers state"), 0)
      << Join(runtime_.commands, "\n");
  EXPECT_EQ(runtime_.CountCommands("show servers state cluster_production:api"), 0);
  ASSERT_NE(runtime_.Find(kBackend, "n3-31003"), nullptr);
  EXPECT_EQ(runtime_.Find(kBackend, "n2-31002"), nullptr);
  EXPECT_EQ(master_->reloads, 0);
  // Only web's service was rendered for the change; --once then renders the whole file.
  EXPECT_EQ(lb->stats().partial_renders, 1);
  EXPECT_NE(ConfigOnDisk().find("n3-31003 10.0.0.3:31003"), std::string::npos);
  EXPECT_EQ(ConfigOnDisk().find("n2-31002"), std::string::npos);
  auto r = lb->Report();
  EXPECT_EQ(r.servers["up"], 3);  // web's two and api's one, patched per backend
  // Nothing changed since: nothing is read at all.
  runtime_.commands.clear();
  ASSERT_TRUE(lb->SyncOnce().ok());
  EXPECT_TRUE(runtime_.commands.empty()) << Join(runtime_.commands, "\n");
}

TEST_F(LbManagerTest, AChangeArrivingWithAFullComparisonDueIsAppliedFirstThenCompared) {
  // The periodic comparison (or a Wake) falling due with a change's wake-up once sent that
  // change down the whole comparison ("the changed backends need a full comparison"): the
  // first change after a slow start, at the scale, took seconds. The change goes
  // first, per backend; the comparison of every server follows.
  PublishModel({"web", "api"});
  consul_.SetInstances("api", {FakeConsul::Inst("n1", "10.0.0.1", 32001)});
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok());  // starts HAProxy
  ASSERT_TRUE(lb->SyncOnce().ok());  // remembered
  runtime_.commands.clear();
  lb->Wake();  // a comparison of every server is due
  consul_.SetInstances(
      "web", {FakeConsul::Inst("n1", "10.0.0.1", 31001), FakeConsul::Inst("n2", "10.0.0.2", 31002),
              FakeConsul::Inst("n3", "10.0.0.3", 31003)});
  Status st = lb->SyncOnce();
  ASSERT_TRUE(st.ok()) << st.ToString() << "\n" << Logs();
  EXPECT_EQ(lb->stats().partial_renders, 1) << Logs();
  EXPECT_EQ(Logs().find("whole render:"), std::string::npos) << Logs();
  ASSERT_NE(runtime_.Find(kBackend, "n3-31003"), nullptr);
  const auto& c = runtime_.commands;
  auto add = std::find_if(c.begin(), c.end(), [](const std::string& x) {
    return x.rfind("add server " + std::string(kBackend) + "/n3-31003", 0) == 0;
  });
  auto full = std::find(c.begin(), c.end(), "show servers state");
  ASSERT_NE(add, c.end()) << Join(c, "\n");
  // The comparison asked for still runs, after the change's commands.
  ASSERT_NE(full, c.end()) << Join(c, "\n");
  EXPECT_LT(add - c.begin(), full - c.begin()) << Join(c, "\n");
  EXPECT_EQ(master_->reloads, 0);
}

TEST_F(LbManagerTest, ASpliceAgreesWithTheWholeRenderAndFallsBackWhenItMustNot) {
  PublishModel({"web", "api"});
  consul_.SetInstances("api", {FakeConsul::Inst("n1", "10.0.0.1", 32001)});
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok());
  ASSERT_TRUE(lb->SyncOnce().ok());
  // api moves to other hosts: spliced, and the whole render that follows changes nothing
  // more in HAProxy (the file on disk then has the same servers HAProxy has).
  consul_.SetInstances("api", {FakeConsul::Inst("n2", "10.0.0.2", 32002),
                               FakeConsul::Inst("n3", "10.0.0.3", 32003)});
  ASSERT_TRUE(lb->SyncOnce().ok());
  EXPECT_EQ(lb->stats().partial_renders, 1);
  EXPECT_NE(runtime_.Find("cluster_production:api", "n3-32003"), nullptr);
  EXPECT_EQ(runtime_.Find("cluster_production:api", "n1-32001"), nullptr);
  std::string cfg = ConfigOnDisk();
  EXPECT_NE(cfg.find("server n2-32002 10.0.0.2:32002"), std::string::npos) << cfg;
  EXPECT_NE(cfg.find("server n1-31001 10.0.0.1:31001"), std::string::npos) << cfg;  // web kept
  EXPECT_EQ(cfg.find("n1-32001"), std::string::npos) << cfg;
  runtime_.commands.clear();
  ASSERT_TRUE(lb->SyncOnce().ok());
  EXPECT_EQ(runtime_.CountCommands("set server"), 0) << Join(runtime_.commands, "\n");
  EXPECT_EQ(runtime_.CountCommands("add server"), 0) << Join(runtime_.commands, "\n");
  // api losing its last instance is not spliced (the whole render decides).
  consul_.SetInstances("api", {});
  ASSERT_TRUE(lb->SyncOnce().ok());
  EXPECT_EQ(lb->stats().partial_renders, 1);
  EXPECT_EQ(ConfigOnDisk().find("n2-32002"), std::string::npos);
  EXPECT_EQ(master_->reloads, 0);
}

TEST_F(LbManagerTest, ASpliceReplacesEveryBackendOfAServiceWithSeveral) {
  // Two environments: each service has two backends (the splice once lost all but the first).
  consul_.SetKv(render::LbModelKey("plat", "internal"),
                render::LbModelToJson(MakeModel({"web", "api"}, "", 8080, "plat",
                                                {{"production", ""}, {"staging", "1"}})));
  auto inst = [](const std::string& node, int port, const std::string& env) {
    auto i = FakeConsul::Inst(node, "10.0.0.1", port);
    i.tags = {env};
    return i;
  };
  consul_.SetInstances("web", {inst("n1", 31001, "production"), inst("n2", 31002, "staging")});
  consul_.SetInstances("api", {inst("n1", 32001, "production"), inst("n2", 32002, "staging")});
  auto lb = Manager();
  Status first = lb->SyncOnce();
  ASSERT_TRUE(first.ok()) << first.ToString() << "\n" << Logs();
  ASSERT_TRUE(lb->SyncOnce().ok());
  consul_.SetInstances("web", {inst("n1", 31001, "production"), inst("n2", 31002, "staging"),
                               inst("n3", 31003, "staging"), inst("n4", 31004, "production")});
  Status st = lb->SyncOnce();
  ASSERT_TRUE(st.ok()) << st.ToString() << "\n" << Logs();
  EXPECT_EQ(lb->stats().partial_renders, 1) << Logs();
  EXPECT_NE(runtime_.Find("cluster_staging:web", "n3-31003"), nullptr);
  EXPECT_NE(runtime_.Find("cluster_production:web", "n4-31004"), nullptr);
  EXPECT_EQ(Logs().find("whole render:"), std::string::npos) << Logs();
  EXPECT_EQ(master_->reloads, 0);
}

TEST(ChangedInstanceNamesTest, NamesWhoseListsDifferUpToALimit) {
  auto inst = [](const std::string& node, int port) {
    model::Instance i;
    i.node = node;
    i.address = "10.0.0.1";
    i.port = port;
    return i;
  };
  model::Instances a{{"web", {inst("n1", 1)}}, {"api", {inst("n1", 2)}}, {"db", {}}};
  model::Instances b = a;
  EXPECT_EQ(ChangedInstanceNames(a, b, 4), std::set<std::string>{});
  b["web"].push_back(inst("n2", 3));
  b.erase("api");
  b["new"] = {inst("n3", 4)};
  EXPECT_EQ(ChangedInstanceNames(a, b, 4), (std::set<std::string>{"web", "api", "new"}));
  EXPECT_EQ(ChangedInstanceNames(a, b, 2), std::nullopt);
  b = a;
  b.erase("db");  // an empty list and no list are the same
  EXPECT_EQ(ChangedInstanceNames(a, b, 4), std::set<std::string>{});
  b = a;
  b["web"][0].tags = {"x"};
  EXPECT_EQ(ChangedInstanceNames(a, b, 4), std::set<std::string>{"web"});
}

TEST_F(LbManagerTest, HandChangesAreReportedAndLeftAlone) {
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok());
  runtime_.Find(kBackend, "n2-31002")->admin = kAdminForcedMaint;
  // The start compared every server and remembers them: a hand change is seen by the next
  // comparison of every server (Run's periodic one, or a Wake).
  lb->Wake();
  ASSERT_TRUE(lb->SyncOnce().ok());
  EXPECT_EQ(runtime_.Find(kBackend, "n2-31002")->admin, kAdminForcedMaint);
  auto r = lb->Report();
  ASSERT_EQ(r.hand_changes.size(), 1u);
  EXPECT_EQ(r.hand_changes[0], std::string(kBackend) + "/n2-31002 maint");
  EXPECT_EQ(r.servers["maint"], 1);
}

TEST_F(LbManagerTest, ARestartedAgentAdoptsTheRunningHaproxyWithoutReload) {
  {
    auto lb = Manager();
    ASSERT_TRUE(lb->SyncOnce().ok());
  }
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok()) << Logs();
  EXPECT_EQ(master_->starts, 1);
  EXPECT_EQ(master_->reloads, 0);
  EXPECT_EQ(lb->Report().last_reload_reason, "started");
  EXPECT_EQ(lb->stats().runtime_commands, 0);
}

TEST_F(LbManagerTest, AnUnknownMasterIsReloadedOnceToLearnWhatItRuns) {
  {
    auto lb = Manager();
    ASSERT_TRUE(lb->SyncOnce().ok());
  }
  master_->pid = 4242;  // someone restarted HAProxy behind the agent's back
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok()) << Logs();
  EXPECT_EQ(master_->reloads, 1);
  ASSERT_TRUE(lb->SyncOnce().ok());
  EXPECT_EQ(master_->reloads, 1);
}

TEST_F(LbManagerTest, AnAgentKilledMidReloadReloadsOnceMoreAfterRestartThenSettles) {
  {
    auto lb = Manager();
    ASSERT_TRUE(lb->SyncOnce().ok());
  }
  // kill -9 between "reload sent" and "reload recorded": the agent file still names the old
  // structure while the config on disk (and HAProxy) already have the new one.
  std::string agent_file = LbManager::AgentStatePath(dir_, "internal");
  std::string saved = *ReadFileBounded(agent_file, 1 << 20);
  PublishModel({"api", "web"});
  {
    auto lb = Manager();
    ASSERT_TRUE(lb->SyncOnce().ok());
  }
  ASSERT_EQ(master_->reloads, 1);
  ASSERT_TRUE(WriteFileAtomic(agent_file, saved).ok());
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok()) << Logs();
  EXPECT_EQ(master_->reloads, 2);  // one harmless extra reload to be sure
  ASSERT_TRUE(lb->SyncOnce().ok());
  EXPECT_EQ(master_->reloads, 2);
}

TEST_F(LbManagerTest, AnAgentThatDoesNotHoldItsClaimLeavesHaproxyAlone) {
  bool holding = false;
  auto lb = Manager([&] { return holding; });
  Status st = lb->SyncOnce();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("does not hold galley/plat/agents/n1/internal"), std::string::npos)
      << st.message();
  EXPECT_EQ(master_->starts, 0);
  EXPECT_FALSE(reports_.empty());  // the report still goes out (the reporter needs one to claim)
  holding = true;
  ASSERT_TRUE(lb->SyncOnce().ok());
  EXPECT_EQ(master_->starts, 1);
}

TEST_F(LbManagerTest, HaproxyKilledIsStartedAgain) {
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok());
  master_->Kill();
  Status st = lb->SyncOnce();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(master_->starts, 2);
  EXPECT_NE(Logs().find("HAProxy master is gone"), std::string::npos) << Logs();
  EXPECT_NE(lb->Report().last_reload_reason.find("restarted"), std::string::npos);
}

TEST_F(LbManagerTest, AFailedReloadPutsThePreviousFileBackAndIsNotRetriedAsIs) {
  auto lb = Manager();
  ASSERT_TRUE(lb->SyncOnce().ok());
  std::string before = ConfigOnDisk();
  master_->fail_reload = true;
  PublishModel({"api", "web"});
  Status st = lb->SyncOnce();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("reload failed"), std::string::npos) << st.message();
  EXPECT_EQ(ConfigOnDisk(), before);
  st = lb->SyncOnce();
  EXPECT_NE(st.message().find("failed before"), std::string::npos) << st.message();
  EXPECT_EQ(master_->reloads, 1);
}

TEST(WithServerStateFileTest, AddsTheTwoLinesInTheirSections) {
  std::string out =
      WithServerStateFile("global\n    maxconn 1\n\ndefaults\n    mode http\n", "/r/x.state");
  EXPECT_EQ(out,
            "global\n    server-state-file /r/x.state\n    maxconn 1\n\ndefaults\n"
            "    load-server-state-from-file global\n    mode http\n");
  EXPECT_EQ(WithServerStateFile("global\n    maxconn 1\n", "/r/x.state", 20000),
            "global\n    server-state-file /r/x.state\n    no strict-limits\n    maxconn 1\n");
}

TEST(HaproxyGlibcTunablesTest, AddsHugePageMallocKeepingWhatIsInherited) {
  EXPECT_EQ(HaproxyGlibcTunables(""), "glibc.malloc.hugetlb=1");
  EXPECT_EQ(HaproxyGlibcTunables("glibc.malloc.arena_max=2"),
            "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1");
  // An operator's own choice wins.
  EXPECT_EQ(HaproxyGlibcTunables("glibc.malloc.hugetlb=0"), "glibc.malloc.hugetlb=0");
}

TEST(ParseShowProcTest, ReadsMasterWorkersAndFailures) {
  auto st = ParseShowProc(
      "#<PID>          <type>          <reloads>       <uptime>        <version>      \n"
      "9261            master          2 [failed: 1]   0d00h10m13s     2.6.12-1+deb12u4\n"
      "# workers\n"
      "12336           worker          0               0d00h00m01s     2.6.12-1+deb12u4\n"
      "# old workers\n"
      "12000           worker          1               0d00h00m09s     2.6.12-1+deb12u4\n"
      "# programs\n\n");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->master_pid, 9261);
  EXPECT_EQ(st->reloads, 2);
  EXPECT_EQ(st->failed_reloads, 1);
  EXPECT_EQ(st->worker_pid, 12336);
  EXPECT_EQ(st->old_workers, std::vector<int>{12000});
  EXPECT_FALSE(ParseShowProc("Unknown command.\n").ok());
}

}  // namespace
}  // namespace galley::agent
