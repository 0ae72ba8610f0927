// SPDX-License-Identifier: Apache-2.0
// The agent's report in Consul against an in-memory Consul (sessions, acquire, behavior
// delete) and a fake clock.
#include "agent/reporter.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/fake_clock.h"
#include "unit/agent/lb_fakes.h"

namespace galley::agent {
namespace {

using testing::FakeConsul;

ReporterOptions Options() {
  ReporterOptions o;
  o.platform = "plat";
  o.node = "n1";
  o.instance = "internal";
  return o;
}

render::AgentReport Report(int pid) {
  render::AgentReport r;
  r.node = "n1";
  r.instance = "internal";
  r.haproxy_pid = pid;
  return r;
}

const char kKey[] = "galley/plat/agents/n1/internal";

TEST(ReporterTest, WritesTheReportUnderItsOwnDeleteSession) {
  FakeConsul consul;
  galley::testing::FakeClock clock;
  Reporter rep(&consul, Options(), &clock);
  EXPECT_EQ(rep.key(), kKey);
  rep.Update(Report(42));
  ASSERT_TRUE(rep.Tick().ok());
  ASSERT_TRUE(rep.holding());
  ASSERT_EQ(consul.sessions.size(), 1u);
  const auto& so = consul.sessions.begin()->second;
  EXPECT_EQ(so.ttl_seconds, 15);
  EXPECT_EQ(so.behavior, "delete");
  EXPECT_EQ(so.lock_delay_seconds, 0);
  ASSERT_TRUE(consul.kv.count(kKey));
  EXPECT_EQ(consul.kv[kKey].session, rep.session());
  auto parsed = render::ParseAgentReport(consul.kv[kKey].value);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->haproxy_pid, 42);
  EXPECT_FALSE(parsed->report_time.empty());

  // Unchanged: not written again; changed: written.
  uint64_t idx = consul.kv[kKey].modify_index;
  ASSERT_TRUE(rep.Tick().ok());
  EXPECT_EQ(consul.kv[kKey].modify_index, idx);
  rep.Update(Report(43));
  ASSERT_TRUE(rep.Tick().ok());
  EXPECT_NE(consul.kv[kKey].modify_index, idx);

  // Renewed every renew_every.
  clock.Advance(std::chrono::milliseconds(5000));
  ASSERT_TRUE(rep.Tick().ok());
  EXPECT_EQ(consul.renewals, 1);

  // Clean shutdown: the session goes, and with it the key.
  ASSERT_TRUE(rep.Shutdown().ok());
  EXPECT_FALSE(consul.kv.count(kKey));
  EXPECT_TRUE(consul.plain_puts.empty());
}

TEST(ReporterTest, ASecondAgentClaimingTheSameNodeNeverOverwritesAndNamesTheHolder) {
  FakeConsul consul;
  galley::testing::FakeClock clock;
  std::vector<std::string> logs;
  Reporter first(&consul, Options(), &clock);
  Reporter second(&consul, Options(), &clock, [&](const std::string& l) { logs.push_back(l); });
  first.Update(Report(1));
  second.Update(Report(2));
  ASSERT_TRUE(first.Tick().ok());
  Status st = second.Tick();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kConflict);
  EXPECT_NE(st.message().find("held by session " + first.session()), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("another agent claims node n1 instance internal"), std::string::npos);
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_FALSE(second.Tick().ok());
  EXPECT_EQ(logs.size(), 1u);  // the same error is logged once
  EXPECT_EQ(render::ParseAgentReport(consul.kv[kKey].value)->haproxy_pid, 1);
  EXPECT_TRUE(consul.plain_puts.empty());
  // The first agent goes away: the second takes over on its next try.
  ASSERT_TRUE(first.Shutdown().ok());
  ASSERT_TRUE(second.Tick().ok());
  EXPECT_EQ(render::ParseAgentReport(consul.kv[kKey].value)->haproxy_pid, 2);
}

TEST(ReporterTest, ASessionConsulForgotIsCreatedAgainAndTheKeyReacquired) {
  FakeConsul consul;
  galley::testing::FakeClock clock;
  Reporter rep(&consul, Options(), &clock);
  rep.Update(Report(7));
  ASSERT_TRUE(rep.Tick().ok());
  std::string old = rep.session();
  consul.Expire(old);  // TTL ran out while Consul was unreachable, say
  EXPECT_FALSE(consul.kv.count(kKey));
  clock.Advance(std::chrono::milliseconds(5000));
  ASSERT_TRUE(rep.Tick().ok());
  EXPECT_NE(rep.session(), old);
  ASSERT_TRUE(consul.kv.count(kKey));
  EXPECT_EQ(consul.kv[kKey].session, rep.session());
}

TEST(ReporterTest, ConsulDownIsAnErrorAndConvergesLater) {
  FakeConsul consul;
  galley::testing::FakeClock clock;
  Reporter rep(&consul, Options(), &clock);
  rep.Update(Report(7));
  consul.fail_writes = true;
  EXPECT_EQ(rep.Tick().code(), StatusCode::kUnavailable);
  consul.fail_writes = false;
  ASSERT_TRUE(rep.Tick().ok());
  EXPECT_TRUE(consul.kv.count(kKey));
}

}  // namespace
}  // namespace galley::agent
