// SPDX-License-Identifier: Apache-2.0
// lb_sync's commands against Debian's real HAProxy: a server added, a killing task drained
// then put in maint, then deleted, an address moved, with `show servers state` checked after
// each step. HAProxy listens only on unix sockets in a temporary directory (no TCP port, so
// `ctest -j2` cannot collide) and is stopped by the fixture.
#include "agent/haproxy_runtime.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/lb_sync.h"
#include "support/process.h"

namespace galley::agent {
namespace {

const char kBackend[] = "cluster_production:test-server";

std::string Config(const std::string& dir, const std::vector<std::string>& servers) {
  std::string c =
      "global\n    stats socket " + dir +
      "/admin.sock mode 600 level admin\n    stats timeout 30s\n"
      "defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n"
      "    timeout server 30s\n    timeout check 2s\n    retries 3\n    option redispatch\n"
      "frontend internal_http_in_production:test-server\n    bind unix@" +
      dir +
      "/fe.sock\n"
      "    use_backend " +
      kBackend +
      "\n"
      "backend " +
      kBackend + "\n    option httpchk GET /healthcheck\n    balance roundrobin\n";
  for (const auto& s : servers) c += "    server " + s + " check inter 10s fall 1 rise 1\n";
  return c;
}

class HaproxyRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    haproxy_ = galley::testing::FindProgram("haproxy");
    ASSERT_FALSE(haproxy_.empty()) << "haproxy is not installed: run ci/install-deps.sh";
    char tmpl[] = "/tmp/galley-agent-XXXXXX";  // short: unix socket paths are limited to 108 bytes
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Start(const std::string& config) {
    config_ = config;
    std::ofstream(dir_ + "/haproxy.cfg") << config;
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      std::string cfg = dir_ + "/haproxy.cfg";
      ::execl(haproxy_.c_str(), haproxy_.c_str(), "-db", "-f", cfg.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    UnixSocketRuntime rt(dir_ + "/admin.sock", std::chrono::seconds(2));
    for (int i = 0; i < 100; ++i) {
      if (rt.Send("show info").ok()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "haproxy did not open its stats socket";
  }

  RunningLb Running() {
    UnixSocketRuntime rt(dir_ + "/admin.sock", std::chrono::seconds(2));
    auto reply = rt.Send("show servers state");
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    auto parsed = ParseServersState(reply.ok() ? reply.value() : "");
    EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
    return {StructureDigest(config_), parsed.ok() ? parsed.value() : std::vector<RunningBackend>{}};
  }

  // Sends the plan's commands of one phase, retrying a delete while connections remain.
  void Run(const LbSyncPlan& plan, CommandPhase phase) {
    UnixSocketRuntime rt(dir_ + "/admin.sock", std::chrono::seconds(2));
    for (const auto& c : plan.commands) {
      if (c.phase != phase) continue;
      Status st;
      for (int attempt = 0; attempt < 40; ++attempt) {
        auto reply = rt.Send(c.text);
        ASSERT_TRUE(reply.ok()) << reply.status().ToString();
        st = CheckReply(c, reply.value());
        if (st.code() != StatusCode::kUnavailable) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      ASSERT_TRUE(st.ok()) << st.ToString();
    }
  }

  const RunningServer* Server(const RunningLb& r, const std::string& name) {
    for (const auto& b : r.backends) {
      if (b.name != kBackend) continue;
      for (const auto& s : b.servers) {
        if (s.name == name) return &s;
      }
    }
    return nullptr;
  }

  std::string haproxy_, dir_, config_;
  pid_t pid_ = -1;
};

TEST_F(HaproxyRuntimeTest, AddDrainMaintDeleteAndMoveWithoutReload) {
  const std::string s1 = "node-1-31001 127.0.0.1:31001", s2 = "node-2-31002 127.0.0.2:31002";
  Start(Config(dir_, {s1}));
  std::map<ServerRef, AdminIntent> intents;

  // 1. A new task: added, health on, enabled.
  auto desired = ParseRenderedConfig(Config(dir_, {s1, s2}));
  ASSERT_TRUE(desired.ok());
  LbSyncPlan add = PlanLbSync({desired.value(), Running(), {}, intents});
  ASSERT_FALSE(add.reload) << add.reload_reason;
  ASSERT_EQ(add.commands.size(), 3u);
  Run(add, CommandPhase::kNow);
  intents = add.intents_after;
  RunningLb r = Running();
  ASSERT_NE(Server(r, "node-2-31002"), nullptr);
  EXPECT_EQ(Server(r, "node-2-31002")->admin_state, 0);
  EXPECT_EQ(Server(r, "node-2-31002")->address, "127.0.0.2");
  EXPECT_EQ(Server(r, "node-2-31002")->port, 31002);

  // 2. node-1's task is killing: drained at once, maint after the drain.
  LbSyncPlan kill = PlanLbSync({desired.value(), Running(), {{"127.0.0.1", 31001}}, intents});
  ASSERT_FALSE(kill.reload);
  Run(kill, CommandPhase::kNow);
  EXPECT_EQ(Server(Running(), "node-1-31001")->admin_state, kAdminForcedDrain);
  Run(kill, CommandPhase::kAfterDrain);
  EXPECT_EQ(Server(Running(), "node-1-31001")->admin_state, kAdminForcedMaint);
  intents = kill.intents_after;

  // 3. Consul dropped it: deleted.
  auto after = ParseRenderedConfig(Config(dir_, {s2}));
  ASSERT_TRUE(after.ok());
  LbSyncPlan del = PlanLbSync({after.value(), Running(), {}, intents});
  ASSERT_FALSE(del.reload);
  ASSERT_EQ(del.commands.size(), 1u);
  Run(del, CommandPhase::kNow);
  EXPECT_EQ(Server(Running(), "node-1-31001"), nullptr);
  intents = del.intents_after;

  // 4. node-2 moved address under the same name: set server addr.
  auto moved = ParseRenderedConfig(Config(dir_, {"node-2-31002 127.0.0.3:31003"}));
  ASSERT_TRUE(moved.ok());
  LbSyncPlan mv = PlanLbSync({moved.value(), Running(), {}, intents});
  ASSERT_FALSE(mv.reload);
  ASSERT_EQ(mv.commands.size(), 1u);
  Run(mv, CommandPhase::kNow);
  r = Running();
  EXPECT_EQ(Server(r, "node-2-31002")->address, "127.0.0.3");
  EXPECT_EQ(Server(r, "node-2-31002")->port, 31003);

  // 5. A hand-set maint is reported and left alone.
  UnixSocketRuntime rt(dir_ + "/admin.sock", std::chrono::seconds(2));
  ASSERT_TRUE(rt.Send("set server " + std::string(kBackend) + "/node-2-31002 state maint").ok());
  LbSyncPlan hand = PlanLbSync({moved.value(), Running(), {}, {}});
  EXPECT_TRUE(hand.commands.empty());
  ASSERT_EQ(hand.hand_changes.size(), 1u);
  EXPECT_EQ(hand.hand_changes[0].state, "maint");
}

TEST_F(HaproxyRuntimeTest, SendFailsCleanlyWithoutASocket) {
  UnixSocketRuntime rt(dir_ + "/none.sock", std::chrono::milliseconds(200));
  auto r = rt.Send("show info");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace galley::agent
