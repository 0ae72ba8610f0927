// SPDX-License-Identifier: Apache-2.0
#include "agent/lb_sync.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "base/strings.h"
#include "render/haproxy_config.h"
#include "support/temp_repo.h"

namespace galley::agent {
namespace {

model::DesiredState State(bool with_second_service = false) {
  model::DesiredState st;
  st.platform.name = "test";
  st.platform.environments = {{"production", "", "", false, {}, {}},
                              {"staging", "1", "staging-", false, {}, {}}};
  model::Service s;
  s.name = "test-server";
  s.ports = {{3000, model::Expose::kHttp, {}}};
  s.health = model::Health{"/healthcheck", 2, 10, 3, std::nullopt, {}};
  model::ServiceEnvironment prod, staging;
  prod.name = "production";
  staging.name = "staging";
  s.environments = {prod, staging};
  st.services.push_back(s);
  if (with_second_service) {
    model::Service other = s;
    other.name = "zz-other";
    other.ports = {{4000, model::Expose::kHttp, {}}};
    st.services.push_back(other);
  }
  return st;
}

model::HaproxyInstance Instance() {
  model::HaproxyInstance in;
  in.name = "internal";
  in.socket = "/run/galley/haproxy.sock";
  return in;
}

model::Instances Live(const std::vector<std::pair<std::string, int>>& node_ports) {
  model::Instances live;
  for (const auto& [node, port] : node_ports) {
    std::string addr = node == "node-1" ? "10.0.0.1" : "10.0.0.2";
    live["test-server"].push_back({node, addr, port, {"production", "internal-listen-http-3000"}});
  }
  return live;
}

DesiredLb Desired(const model::Instances& live, bool with_second_service = false) {
  auto d = DesiredFor(State(with_second_service), Instance(), live);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.value();
}

// What HAProxy runs after loading `d` from a file: every server ready and up.
RunningLb Loaded(const DesiredLb& d) {
  RunningLb r;
  r.structure_digest = d.structure_digest;
  int be_id = 3;
  for (const auto& b : d.backends) {
    RunningBackend rb{be_id++, b.name, {}};
    int id = 1;
    for (const auto& s : b.servers) rb.servers.push_back({id++, s.name, s.address, s.port, 2, 0});
    if (!rb.servers.empty()) r.backends.push_back(rb);  // `show servers state` omits empty backends
  }
  return r;
}

RunningServer* Find(RunningLb& r, const std::string& backend, const std::string& server) {
  for (auto& b : r.backends) {
    if (b.name != backend) continue;
    for (auto& s : b.servers) {
      if (s.name == server) return &s;
    }
  }
  return nullptr;
}

// A small model of HAProxy's runtime API with the preconditions of haproxy-lab §3.2, so the
// tests check that the command order is one HAProxy accepts.
void Apply(RunningLb& r, const std::vector<RuntimeCommand>& cmds) {
  for (const auto& c : cmds) {
    std::istringstream words(c.text);
    std::string verb, object, ref;
    words >> verb >> object >> ref;
    auto slash = ref.find('/');
    ASSERT_NE(slash, std::string::npos) << c.text;
    std::string be = ref.substr(0, slash), srv = ref.substr(slash + 1);
    RunningServer* s = Find(r, be, srv);
    if (verb == "add") {
      ASSERT_EQ(s, nullptr) << "Already exists a server with the same name in backend: " << c.text;
      std::string addr_port;
      words >> addr_port;
      auto colon = addr_port.rfind(':');
      auto b =
          std::find_if(r.backends.begin(), r.backends.end(), [&](auto& x) { return x.name == be; });
      if (b == r.backends.end())
        b = r.backends.insert(r.backends.end(), RunningBackend{99, be, {}});
      b->servers.push_back({100, srv, addr_port.substr(0, colon),
                            std::stoi(addr_port.substr(colon + 1)), 0, kAdminForcedMaint});
      continue;
    }
    ASSERT_NE(s, nullptr) << "No such server: " << c.text;
    std::string rest;
    std::getline(words, rest);
    if (verb == "enable" && object == "server") {
      s->admin_state &= ~(kAdminForcedMaint | kAdminForcedDrain);
      s->op_state = static_cast<int>(OpState::kRunning);  // as once its first check passed
    } else if (verb == "enable" && object == "health") {
    } else if (verb == "set" && rest.find("state drain") != std::string::npos) {
      s->admin_state = (s->admin_state & ~kAdminForcedMaint) | kAdminForcedDrain;
    } else if (verb == "set" && rest.find("state maint") != std::string::npos) {
      s->admin_state = (s->admin_state & ~kAdminForcedDrain) | kAdminForcedMaint;
    } else if (verb == "set" && rest.find("state ready") != std::string::npos) {
      s->admin_state &= ~(kAdminForcedMaint | kAdminForcedDrain);
    } else if (verb == "set" && rest.find("addr") != std::string::npos) {
      std::istringstream a(rest);
      std::string kw, addr, pkw;
      int port = 0;
      a >> kw >> addr >> pkw >> port;
      s->address = addr;
      s->port = port;
    } else if (verb == "del") {
      ASSERT_TRUE(s->admin_state & kAdminForcedMaint)
          << "Only servers in maintenance mode can be deleted.";
      for (auto& b : r.backends) {
        if (b.name == be)
          b.servers.erase(std::remove_if(b.servers.begin(), b.servers.end(),
                                         [&](auto& x) { return x.name == srv; }),
                          b.servers.end());
      }
    } else {
      FAIL() << "unexpected command " << c.text;
    }
  }
}

std::vector<std::string> Texts(const std::vector<RuntimeCommand>& cmds, CommandPhase phase) {
  std::vector<std::string> out;
  for (const auto& c : cmds) {
    if (c.phase == phase) out.push_back(c.text);
  }
  return out;
}

const char kProd[] = "cluster_production:test-server";

TEST(LbSyncDigestTest, MembershipChangesLeaveTheStructureDigestAlone) {
  DesiredLb a = Desired(Live({{"node-1", 31001}, {"node-2", 31002}}));
  DesiredLb b = Desired(Live({{"node-1", 31005}}));
  EXPECT_EQ(a.structure_digest, b.structure_digest);
  EXPECT_NE(a.membership_digest, b.membership_digest);
  EXPECT_NE(a.structure_digest, Desired(Live({}), true).structure_digest);
  // The file on disk gives the same digest as the parse: adoption after a restart.
  std::string text = render::RenderHaproxyConfig(State(), Instance(), Live({{"node-1", 31001}}));
  EXPECT_EQ(StructureDigest(text), a.structure_digest);
}

TEST(LbSyncDigestTest, ServersAreTheRenderersServersWithTheirOptions) {
  auto live = Live({{"node-2", 31002}, {"node-1", 31001}});
  DesiredLb d = Desired(live);
  auto expected = render::BackendServers(live, "test-server", "production");
  const DesiredBackend* prod = nullptr;
  for (const auto& b : d.backends) {
    if (b.name == kProd) prod = &b;
  }
  ASSERT_NE(prod, nullptr);
  EXPECT_EQ(prod->balance, "roundrobin");
  ASSERT_EQ(prod->servers.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(prod->servers[i].name, expected[i].name);
    EXPECT_EQ(prod->servers[i].address, expected[i].address);
    EXPECT_EQ(prod->servers[i].port, expected[i].port);
    EXPECT_EQ(prod->servers[i].options, "check inter 10s fall 1 rise 1");
  }
}

TEST(LbSyncDigestTest, RejectsAServerLineWithoutAPort) {
  auto d = ParseRenderedConfig("backend b\n    server s1 10.0.0.1 check\n");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("line 2"), std::string::npos);
}

TEST(LbSyncTest, RollingDeployIsOnlyRuntimeCommandsAndNeverReloads) {
  // 4 old tasks replaced one by one by 4 new ones (new host ports), as Marathon's rolling
  // restart with upgradeStrategy 1/1 does: start one, then kill one.
  std::vector<std::pair<std::string, int>> tasks = {
      {"node-1", 31001}, {"node-2", 31002}, {"node-1", 31003}, {"node-2", 31004}};
  DesiredLb d = Desired(Live(tasks));
  RunningLb running = Loaded(d);
  std::map<ServerRef, AdminIntent> intents;
  int reloads = 0, steps = 0;
  auto sync = [&](const std::vector<Endpoint>& killing) {
    LbSyncPlan p = PlanLbSync({Desired(Live(tasks)), running, killing, intents});
    reloads += p.reload;
    ++steps;
    EXPECT_TRUE(p.hand_changes.empty());
    Apply(running, p.commands);
    intents = p.intents_after;
    return p;
  };
  for (int i = 0; i < 4; ++i) {
    tasks.push_back({i % 2 ? "node-2" : "node-1", 32001 + i});  // new task healthy
    LbSyncPlan up = sync({});
    ASSERT_EQ(Texts(up.commands, CommandPhase::kNow).size(), 3u);
    std::string addr = i % 2 ? "10.0.0.2" : "10.0.0.1";
    auto old = tasks.front();
    LbSyncPlan kill = sync({{addr, old.second}});  // TASK_KILLING before Consul catches up
    std::string old_ref = std::string(kProd) + "/" + old.first + "-" + std::to_string(old.second);
    EXPECT_EQ(Texts(kill.commands, CommandPhase::kNow),
              std::vector<std::string>{"set server " + old_ref + " state drain"});
    EXPECT_EQ(Texts(kill.commands, CommandPhase::kAfterDrain),
              std::vector<std::string>{"set server " + old_ref + " state maint"});
    tasks.erase(tasks.begin());  // deregistered from Consul
    LbSyncPlan gone = sync({});
    EXPECT_EQ(Texts(gone.commands, CommandPhase::kNow),
              std::vector<std::string>{"del server " + old_ref});
  }
  EXPECT_EQ(reloads, 0);
  EXPECT_EQ(steps, 12);
  // HAProxy now runs exactly the new tasks, all ready.
  const RunningBackend* prod = nullptr;
  for (const auto& b : running.backends) {
    if (b.name == kProd) prod = &b;
  }
  ASSERT_NE(prod, nullptr);
  ASSERT_EQ(prod->servers.size(), 4u);
  for (const auto& s : prod->servers) {
    EXPECT_GE(s.port, 32001);
    EXPECT_EQ(s.admin_state, 0);
  }
  // And a sync now has nothing to do.
  LbSyncPlan idle = PlanLbSync({Desired(Live(tasks)), running, {}, intents});
  EXPECT_FALSE(idle.reload);
  EXPECT_TRUE(idle.commands.empty());
}

TEST(LbSyncTest, AddCarriesTheRenderedOptionsAndThePoolSettings) {
  DesiredLb before = Desired(Live({{"node-1", 31001}}));
  LbSyncPlan p =
      PlanLbSync({Desired(Live({{"node-1", 31001}, {"node-2", 31002}})), Loaded(before), {}, {}});
  ASSERT_FALSE(p.reload);
  std::string ref = std::string(kProd) + "/node-2-31002";
  EXPECT_EQ(
      Texts(p.commands, CommandPhase::kNow),
      (std::vector<std::string>{
          "add server " + ref +
              " 10.0.0.2:31002 check inter 10s fall 1 rise 1 pool-max-conn -1 pool-purge-delay 5s",
          "enable health " + ref, "enable server " + ref}));
  EXPECT_EQ(p.commands[0].expect, Expect::kServerRegistered);
  EXPECT_EQ(p.intents_after.at({kProd, "node-2-31002"}), AdminIntent::kReady);
}

TEST(LbSyncTest, RemovedServerIsDrainedThenMaintThenDeleted) {
  DesiredLb before = Desired(Live({{"node-1", 31001}, {"node-2", 31002}}));
  LbSyncPlan p = PlanLbSync({Desired(Live({{"node-1", 31001}})), Loaded(before), {}, {}});
  ASSERT_FALSE(p.reload);
  std::string ref = std::string(kProd) + "/node-2-31002";
  EXPECT_EQ(Texts(p.commands, CommandPhase::kNow),
            std::vector<std::string>{"set server " + ref + " state drain"});
  EXPECT_EQ(Texts(p.commands, CommandPhase::kAfterDrain),
            (std::vector<std::string>{"set server " + ref + " state maint", "del server " + ref}));
  EXPECT_FALSE(p.intents_after.count({kProd, "node-2-31002"}));
}

TEST(LbSyncTest, ListenerAddedMeansReload) {
  auto live = Live({{"node-1", 31001}});
  LbSyncPlan p = PlanLbSync({Desired(live, true), Loaded(Desired(live)), {}, {}});
  EXPECT_TRUE(p.reload);
  EXPECT_NE(p.reload_reason.find("structure changed"), std::string::npos) << p.reload_reason;
  EXPECT_TRUE(p.commands.empty());
}

TEST(LbSyncTest, UnknownRunningStructureMeansReload) {
  auto d = Desired(Live({{"node-1", 31001}}));
  RunningLb r = Loaded(d);
  r.structure_digest.clear();
  LbSyncPlan p = PlanLbSync({d, r, {}, {}});
  EXPECT_TRUE(p.reload);
  EXPECT_NE(p.reload_reason.find("unknown"), std::string::npos);
}

TEST(LbSyncTest, ReloadStillDrainsKillingTasksInTheOldWorker) {
  auto live = Live({{"node-1", 31001}, {"node-2", 31002}});
  LbSyncPlan p =
      PlanLbSync({Desired(live, true), Loaded(Desired(live)), {{"10.0.0.2", 31002}}, {}});
  EXPECT_TRUE(p.reload);
  EXPECT_EQ(
      Texts(p.commands, CommandPhase::kNow),
      std::vector<std::string>{"set server " + std::string(kProd) + "/node-2-31002 state drain"});
  EXPECT_TRUE(Texts(p.commands, CommandPhase::kAfterDrain).empty());
}

TEST(LbSyncTest, KillingTaskIsDrainedAtOnceAndNeverAdded) {
  auto live = Live({{"node-1", 31001}, {"node-2", 31002}, {"node-3", 31003}});
  RunningLb r = Loaded(Desired(Live({{"node-1", 31001}, {"node-3", 31003}})));
  // node-2-31002 is new in Consul but already killing (killed while starting): not added.
  // node-1-31001 is killing: drained now, maint after the drain, kept until Consul drops it.
  LbSyncPlan p = PlanLbSync({Desired(live), r, {{"10.0.0.1", 31001}, {"10.0.0.2", 31002}}, {}});
  ASSERT_FALSE(p.reload);
  std::string ref = std::string(kProd) + "/node-1-31001";
  EXPECT_EQ(Texts(p.commands, CommandPhase::kNow),
            std::vector<std::string>{"set server " + ref + " state drain"});
  EXPECT_EQ(Texts(p.commands, CommandPhase::kAfterDrain),
            std::vector<std::string>{"set server " + ref + " state maint"});
  EXPECT_EQ(p.intents_after.at({kProd, "node-1-31001"}), AdminIntent::kMaint);
  EXPECT_TRUE(p.hand_changes.empty());
}

TEST(LbSyncTest, TheLastServersInRotationAreNotDrainedUntilAReplacementRuns) {
  // Marathon killed both old tasks as soon as it saw the new ones healthy; Consul has already
  // dropped the old registrations and not yet shown the new ones. Draining the old servers
  // now would leave the backend empty (503) while the old tasks still serve after SIGTERM.
  auto before = Live({{"node-1", 31001}, {"node-2", 31002}});
  RunningLb r = Loaded(Desired(before));
  std::vector<Endpoint> killing = {{"10.0.0.1", 31001}, {"10.0.0.2", 31002}};
  LbSyncPlan gap = PlanLbSync({Desired(Live({})), r, killing, {}});
  EXPECT_FALSE(gap.reload);
  EXPECT_TRUE(gap.commands.empty()) << Texts(gap.commands, CommandPhase::kNow).size();
  EXPECT_TRUE(gap.recheck_soon);
  EXPECT_EQ(gap.intents_after.at({kProd, "node-1-31001"}), AdminIntent::kReady);
  ASSERT_EQ(gap.notes.size(), 2u);
  EXPECT_NE(gap.notes[0].find("stays in rotation"), std::string::npos) << gap.notes[0];

  // The replacement arrives: it is added, but it does not run yet, so the old ones stay.
  auto next = Live({{"node-1", 32001}});
  LbSyncPlan added = PlanLbSync({Desired(next), r, killing, gap.intents_after});
  EXPECT_EQ(Texts(added.commands, CommandPhase::kNow).size(), 3u);  // add, enable health/server
  EXPECT_TRUE(added.recheck_soon);
  Apply(r, added.commands);  // the fake marks an enabled server running

  // Once it runs, the old servers are retired as usual.
  LbSyncPlan retire = PlanLbSync({Desired(next), r, killing, added.intents_after});
  EXPECT_FALSE(retire.recheck_soon);
  EXPECT_EQ(
      Texts(retire.commands, CommandPhase::kNow),
      (std::vector<std::string>{"set server " + std::string(kProd) + "/node-1-31001 state drain",
                                "set server " + std::string(kProd) + "/node-2-31002 state drain"}));

  // A server that is already down (its task is gone) is not worth keeping.
  RunningLb down = Loaded(Desired(before));
  for (auto& b : down.backends)
    for (auto& s : b.servers) s.op_state = static_cast<int>(OpState::kStopped);
  LbSyncPlan gone = PlanLbSync({Desired(Live({})), down, killing, {}});
  EXPECT_FALSE(gone.recheck_soon);
  EXPECT_EQ(Texts(gone.commands, CommandPhase::kNow).size(), 2u);
}

TEST(LbSyncTest, HandSetMaintIsReportedAndNotUndone) {
  auto live = Live({{"node-1", 31001}, {"node-2", 31002}});
  DesiredLb d = Desired(live);
  RunningLb r = Loaded(d);
  Find(r, kProd, "node-2-31002")->admin_state = kAdminForcedMaint;
  Find(r, kProd, "node-1-31001")->admin_state = kAdminForcedDrain;
  LbSyncPlan p = PlanLbSync({d, r, {}, {{{kProd, "node-2-31002"}, AdminIntent::kReady}}});
  EXPECT_FALSE(p.reload);
  EXPECT_TRUE(p.commands.empty());
  EXPECT_EQ(p.hand_changes, (std::vector<HandChange>{{{kProd, "node-1-31001"}, "drain"},
                                                     {{kProd, "node-2-31002"}, "maint"}}));
}

TEST(LbSyncTest, GalleysOwnDrainIsUndoneWhenTheKillDidNotHappen) {
  auto live = Live({{"node-1", 31001}});
  DesiredLb d = Desired(live);
  RunningLb r = Loaded(d);
  Find(r, kProd, "node-1-31001")->admin_state = kAdminForcedMaint;
  LbSyncPlan p = PlanLbSync({d, r, {}, {{{kProd, "node-1-31001"}, AdminIntent::kMaint}}});
  std::string ref = std::string(kProd) + "/node-1-31001";
  EXPECT_EQ(
      Texts(p.commands, CommandPhase::kNow),
      (std::vector<std::string>{"enable health " + ref, "set server " + ref + " state ready"}));
  EXPECT_TRUE(p.hand_changes.empty());
  EXPECT_EQ(p.intents_after.at({kProd, "node-1-31001"}), AdminIntent::kReady);
}

TEST(LbSyncTest, MovedAddressUsesSetServerAddr) {
  DesiredLb d = Desired(Live({{"node-1", 31001}}));
  RunningLb r = Loaded(d);
  Find(r, kProd, "node-1-31001")->address = "10.9.9.9";
  LbSyncPlan p = PlanLbSync({d, r, {}, {}});
  ASSERT_FALSE(p.reload);
  ASSERT_EQ(p.commands.size(), 1u);
  EXPECT_EQ(p.commands[0].text,
            "set server " + std::string(kProd) + "/node-1-31001 addr 10.0.0.1 port 31001");
  EXPECT_EQ(p.commands[0].expect, Expect::kAddressChanged);
}

TEST(LbSyncTest, StaticBalanceCannotAddAtRuntime) {
  auto st = State();
  st.services[0].balance = "source";
  auto before = DesiredFor(st, Instance(), Live({{"node-1", 31001}}));
  auto after = DesiredFor(st, Instance(), Live({{"node-1", 31001}, {"node-2", 31002}}));
  ASSERT_TRUE(before.ok() && after.ok());
  LbSyncPlan p = PlanLbSync({after.value(), Loaded(before.value()), {}, {}});
  EXPECT_TRUE(p.reload);
  EXPECT_NE(p.reload_reason.find("refuses add server"), std::string::npos) << p.reload_reason;
  // A removal there drains and keeps the server in maint (no del) until the next reload.
  LbSyncPlan q = PlanLbSync({before.value(), Loaded(after.value()), {}, {}});
  EXPECT_FALSE(q.reload);
  for (const auto& c : q.commands)
    EXPECT_EQ(c.text.find("del server"), std::string::npos) << c.text;
  EXPECT_EQ(q.notes.size(), 1u);
}

TEST(ServersStateTest, ParsesARealCapture) {
  // Captured from Debian's HAProxy 2.6.12-1+deb12u4 with
  // tests/testdata/agent/show_servers_state.cfg: node-1-31001 up, node-1-31002 `state drain`,
  // node-2-31003 `state maint`, and node-1-31009 added with `add server` (starts in maint); the
  // empty backend is absent.
  std::ifstream f(testing::SourceRoot() + "/tests/testdata/agent/show_servers_state.txt");
  std::stringstream text;
  text << f.rdbuf();
  auto r = ParseServersState(text.str());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  const RunningBackend& prod = (*r)[0];
  EXPECT_EQ(prod.name, kProd);
  EXPECT_EQ(prod.id, 3);
  ASSERT_EQ(prod.servers.size(), 3u);
  EXPECT_EQ(prod.servers[0].name, "node-1-31001");
  EXPECT_EQ(prod.servers[0].address, "127.0.0.1");
  EXPECT_EQ(prod.servers[0].port, 31001);
  EXPECT_EQ(prod.servers[0].op_state, static_cast<int>(OpState::kRunning));
  EXPECT_EQ(prod.servers[0].admin_state, 0);
  EXPECT_EQ(prod.servers[1].admin_state, kAdminForcedDrain);
  EXPECT_EQ(prod.servers[2].admin_state, kAdminForcedMaint);
  EXPECT_EQ(prod.servers[2].address, "127.0.0.2");
  EXPECT_EQ((*r)[1].name, "cluster_staging:test-server");
  EXPECT_EQ((*r)[1].servers[0].admin_state, kAdminForcedMaint);
  EXPECT_EQ((*r)[1].servers[0].port, 31009);
}

TEST(ServersStateTest, FingerprintMatchesTheParsedRowsAndMovesWithWhatThePlanReads) {
  std::ifstream f(testing::SourceRoot() + "/tests/testdata/agent/show_servers_state.txt");
  std::stringstream in;
  in << f.rdbuf();
  const std::string text = in.str();
  auto rows = ParseServersState(text);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  auto fp = FingerprintServersState(text);
  ASSERT_TRUE(fp.ok()) << fp.status().ToString();
  EXPECT_EQ(fp->servers, 4u);
  EXPECT_EQ(*fp, FingerprintServers(*rows));
  // Rows in another order (the agent patches its remembered rows per backend): the same.
  std::vector<RunningBackend> reordered(rows->rbegin(), rows->rend());
  EXPECT_EQ(*fp, FingerprintServers(reordered));

  // Replaces field `col` (0-based) of the first server row.
  auto with_field = [&](size_t col, const std::string& value) {
    std::vector<std::string> lines;
    std::stringstream ss(text);
    for (std::string l; std::getline(ss, l);) lines.push_back(l);
    std::stringstream row(lines[2]);
    std::vector<std::string> fields;
    for (std::string w; row >> w;) fields.push_back(w);
    fields[col] = value;
    lines[2] = Join(fields, " ");
    return Join(lines, "\n") + "\n";
  };
  auto differs = [&](size_t col, const std::string& value) {
    auto other = FingerprintServersState(with_field(col, value));
    return other.ok() && !other->SameServers(*fp);
  };
  EXPECT_EQ(fp->up, 1);
  EXPECT_EQ(fp->drain, 1);
  EXPECT_EQ(fp->maint, 2);
  EXPECT_EQ(fp->down, 0);
  // Columns: be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight
  // srv_iweight srv_time_since_last_change srv_check_status ... srv_port (18).
  EXPECT_TRUE(differs(6, "1")) << "a server put in maint by hand";
  EXPECT_TRUE(differs(6, "8")) << "a server drained by hand";
  // A check that failed: the same servers to the plan, one more down in the counts.
  EXPECT_FALSE(differs(5, "0"));
  auto failed = FingerprintServersState(with_field(5, "0"));
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->up, 0);
  EXPECT_EQ(failed->down, 1);
  EXPECT_FALSE(*failed == *fp);
  EXPECT_TRUE(differs(4, "127.0.0.9")) << "an address moved";
  EXPECT_TRUE(differs(18, "31999")) << "a port moved";
  EXPECT_TRUE(differs(3, "node-1-39999")) << "another server";
  EXPECT_FALSE(differs(9, "12345")) << "time since the last change ticks every second";
  EXPECT_FALSE(differs(12, "0")) << "check counters are not what the plan reads";
  // A server missing or added changes the count.
  auto fewer = FingerprintServersState(text.substr(0, text.find("\n4 cluster_staging") + 1));
  ASSERT_TRUE(fewer.ok());
  EXPECT_EQ(fewer->servers, 3u);
  EXPECT_FALSE(fewer->SameServers(*fp));
  // The errors ParseServersState refuses.
  EXPECT_FALSE(FingerprintServersState("Can't find backend.\n").ok());
  EXPECT_FALSE(FingerprintServersState("").ok());
  EXPECT_FALSE(FingerprintServersState("2\n# be_name\n").ok());
  EXPECT_FALSE(FingerprintServersState("1\n# be_id be_name srv_id srv_name\n").ok());
  std::string header =
      "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_port\n";
  EXPECT_FALSE(FingerprintServersState(header + "3 be 1 s1 10.0.0.1 x 0 80\n").ok());
  EXPECT_FALSE(FingerprintServersState(header + "3 be 1 s1\n").ok());
  auto empty = FingerprintServersState(header);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->servers, 0u);
}

TEST(ServersStateTest, RefusesErrorsAndOtherFormats) {
  EXPECT_FALSE(ParseServersState("Can't find backend.\n").ok());
  EXPECT_FALSE(ParseServersState("").ok());
  EXPECT_FALSE(ParseServersState("2\n# be_id be_name\n").ok());
  EXPECT_FALSE(ParseServersState("1\n# be_id be_name srv_id srv_name\n").ok());  // columns missing
  std::string header =
      "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_port\n";
  EXPECT_FALSE(ParseServersState(header + "3 be 1 s1 10.0.0.1 x 0 80\n").ok());
  EXPECT_FALSE(ParseServersState(header + "3 be 1 s1\n").ok());
  auto ok =
      ParseServersState(header + "3 be 1 s1 10.0.0.1 2 0 80 extra-column-of-a-later-version\n");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(ParseServersState(header).value().empty());
}

TEST(CheckReplyTest, MatchesHaproxysExactReplies) {
  RuntimeCommand add{
      "add server b/s 10.0.0.1:80", CommandPhase::kNow, Expect::kServerRegistered, {"b", "s"}};
  RuntimeCommand del{"del server b/s", CommandPhase::kNow, Expect::kServerDeleted, {"b", "s"}};
  RuntimeCommand state{
      "set server b/s state drain", CommandPhase::kNow, Expect::kEmpty, {"b", "s"}};
  RuntimeCommand addr{"set server b/s addr 10.0.0.2 port 80",
                      CommandPhase::kNow,
                      Expect::kAddressChanged,
                      {"b", "s"}};
  EXPECT_TRUE(CheckReply(add, "New server registered.\n\n").ok());
  EXPECT_FALSE(CheckReply(add, "Already exists a server with the same name in backend.\n").ok());
  EXPECT_TRUE(CheckReply(del, "Server deleted.\n").ok());
  EXPECT_EQ(
      CheckReply(del, "Server still has connections attached to it, cannot remove it.\n").code(),
      StatusCode::kUnavailable);
  EXPECT_EQ(CheckReply(del, "Only servers in maintenance mode can be deleted.\n").code(),
            StatusCode::kInternal);
  EXPECT_TRUE(CheckReply(state, "\n").ok());
  EXPECT_FALSE(CheckReply(state, "No such server.\n").ok());
  EXPECT_TRUE(CheckReply(addr,
                         "IP changed from '10.0.0.1' to '10.0.0.2', no need to change the port by "
                         "'stats socket command'\n")
                  .ok());
  EXPECT_FALSE(CheckReply(addr, "Invalid addr 'x' by 'stats socket command'\n").ok());
}

}  // namespace
}  // namespace galley::agent
