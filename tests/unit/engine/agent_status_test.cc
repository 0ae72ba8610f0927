// SPDX-License-Identifier: Apache-2.0
// The agents' status in plan and drift: in sync, pending, failed (error, HAProxy down,
// unreadable report), missing agent (reported before; task hosts once agents are in use),
// hand changes; what the store records and reads back; JSON and text.
#include "engine/agent_status.h"

#include <gtest/gtest.h>

#include "render/lb_model.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

constexpr char kPublished[] = "sha256:aaaa111122223333";

render::AgentReport Report(const std::string& node, const std::string& instance,
                           const std::string& digest = kPublished) {
  render::AgentReport r;
  r.node = node;
  r.instance = instance;
  r.agent_version = "0.1.0";
  r.model_digest = digest;
  r.config_digest = "sha256:cfg";
  r.haproxy_pid = 4242;
  r.servers = {{"up", 3}};
  r.report_time = "2026-12-07T10:00:00.000Z";
  return r;
}

class AgentStatusTest : public ::testing::Test {
 protected:
  AgentStatusTest() {
    in_.platform = "p";
    in_.published = {{"internal", kPublished}, {"external", ""}};
  }
  void Put(const std::string& node, const std::string& instance, const std::string& value,
           uint64_t index = 9) {
    std::string key = render::AgentReportKey("p", node, instance);
    in_.reports[key] = model::LiveKvEntry{key, value, index, 0, "session-1"};
  }
  void Put(const render::AgentReport& r) { Put(r.node, r.instance, render::AgentReportToJson(r)); }
  const AgentStatus& Only(const AgentSummary& s) {
    EXPECT_EQ(s.hosts.size(), 1u);
    return s.hosts.at(0);
  }
  AgentInput in_;
};

TEST_F(AgentStatusTest, InSyncWhenItRunsThePublishedModel) {
  Put(Report("n1", "internal"));
  AgentSummary s = AgentStatuses(in_);
  const AgentStatus& h = Only(s);
  EXPECT_EQ(h.state, AgentState::kInSync);
  EXPECT_EQ(h.node, "n1");
  EXPECT_EQ(h.instance, "internal");
  EXPECT_EQ(h.key, "galley/p/agents/n1/internal");
  EXPECT_EQ(h.published_digest, kPublished);
  EXPECT_EQ(h.haproxy_pid, 4242);
  EXPECT_EQ(h.detail, "runs model sha256:aaaa11112222");
  EXPECT_EQ(s.in_sync, 1);
  EXPECT_EQ(s.problems(), 0);
  EXPECT_TRUE(s.any_agent);
}

TEST_F(AgentStatusTest, PendingWhenItRunsAnotherModel) {
  Put(Report("n1", "internal", "sha256:bbbb"));
  AgentSummary s = AgentStatuses(in_);
  EXPECT_EQ(Only(s).state, AgentState::kPending);
  EXPECT_EQ(Only(s).detail, "runs model sha256:bbbb, published sha256:aaaa11112222");
  EXPECT_EQ(s.pending, 1);
  EXPECT_EQ(s.problems(), 0);  // catching up is not a problem
}

TEST_F(AgentStatusTest, PendingWhenNothingIsPublishedForItsInstance) {
  Put(Report("n1", "external"));
  EXPECT_EQ(Only(AgentStatuses(in_)).state, AgentState::kPending);
  EXPECT_EQ(Only(AgentStatuses(in_)).detail,
            "galley has published no model for external yet (galley apply does)");
}

TEST_F(AgentStatusTest, FailedOnAnErrorOrHaproxyDown) {
  render::AgentReport r = Report("n1", "internal");
  r.last_error = "haproxy -c refused the config: line 12";
  Put(r);
  AgentSummary s = AgentStatuses(in_);
  EXPECT_EQ(Only(s).state, AgentState::kFailed);
  EXPECT_EQ(Only(s).detail, "haproxy -c refused the config: line 12");
  EXPECT_EQ(s.problems(), 1);

  render::AgentReport down = Report("n1", "internal");
  down.haproxy_pid = 0;
  Put(down);
  EXPECT_EQ(Only(AgentStatuses(in_)).state, AgentState::kFailed);
  EXPECT_EQ(Only(AgentStatuses(in_)).detail, "HAProxy is not running");
}

TEST_F(AgentStatusTest, AnUnreadableReportIsAProblemForItsHostNeverACrash) {
  Put("n1", "internal", "{not json");
  Put("n2", "internal", "{\"schema\": 1}");
  std::string odd = "galley/p/agents/n3";  // no instance segment
  in_.reports[odd] = model::LiveKvEntry{odd, "{}", 3, 0, ""};
  AgentSummary s = AgentStatuses(in_);
  ASSERT_EQ(s.hosts.size(), 3u);
  for (const auto& h : s.hosts) EXPECT_EQ(h.state, AgentState::kFailed) << h.node;
  EXPECT_EQ(s.hosts[0].detail, "the report cannot be read: agent report: not a JSON object");
  EXPECT_EQ(s.hosts[1].detail.rfind("the report cannot be read: agent report: $.", 0), 0u)
      << s.hosts[1].detail;
  EXPECT_EQ(s.hosts[2].node, "n3");
  EXPECT_EQ(s.hosts[2].detail,
            "unexpected key galley/p/agents/n3 (reports are at galley/p/agents/<node>/<instance>)");
  EXPECT_EQ(s.failed, 3);
}

TEST_F(AgentStatusTest, HandChangesRideOnAnyStateAndCount) {
  render::AgentReport r = Report("n1", "internal");
  r.hand_changes = {"be_app_production_web/n1-31000 maint", "be_x/n1-31001 drain"};
  Put(r);
  AgentSummary s = AgentStatuses(in_);
  EXPECT_EQ(Only(s).state, AgentState::kInSync);
  EXPECT_EQ(Only(s).hand_changes.size(), 2u);
  EXPECT_EQ(s.hand_changes, 2);
  EXPECT_EQ(s.problems(), 2);
  std::string text = RenderAgentsText(s, false);
  EXPECT_NE(text.find("      hand change: be_app_production_web/n1-31000 maint\n"),
            std::string::npos)
      << text;
}

TEST_F(AgentStatusTest, AnAgentThatReportedBeforeAndNoLongerDoesIsMissing) {
  in_.reported_before[{"n1", "internal"}] = "2026-12-07T09:00:00.000Z";
  in_.reported_before[{"n2", "internal"}] = "";
  Put(Report("n2", "internal"));
  AgentSummary s = AgentStatuses(in_);
  ASSERT_EQ(s.hosts.size(), 2u);
  EXPECT_EQ(s.hosts[0].node, "n1");
  EXPECT_EQ(s.hosts[0].state, AgentState::kMissing);
  EXPECT_EQ(s.hosts[0].detail,
            "no report now (last report 2026-12-07T09:00:00.000Z): the agent stopped or lost its "
            "Consul session");
  EXPECT_EQ(s.hosts[1].state, AgentState::kInSync);
  EXPECT_EQ(s.missing, 1);
  EXPECT_EQ(s.problems(), 1);
}

TEST_F(AgentStatusTest, TaskHostsWithoutAnAgentAreMissingOnlyOnceAgentsAreInUse) {
  in_.task_hosts = {"n1", "n2", ""};
  AgentSummary none = AgentStatuses(in_);
  EXPECT_TRUE(none.hosts.empty());  // no agent ever reported: none is expected
  EXPECT_FALSE(none.any_agent);
  EXPECT_EQ(RenderAgentsText(none, false), "");

  Put(Report("n1", "internal"));
  AgentSummary s = AgentStatuses(in_);
  ASSERT_EQ(s.hosts.size(), 2u);
  EXPECT_EQ(s.hosts[0].node, "n1");
  EXPECT_EQ(s.hosts[0].state, AgentState::kInSync);
  EXPECT_EQ(s.hosts[1].node, "n2");
  EXPECT_EQ(s.hosts[1].instance, "");
  EXPECT_EQ(s.hosts[1].state, AgentState::kMissing);
  EXPECT_EQ(s.hosts[1].detail, "runs Marathon tasks, but no agent reports from it");

  // Known to the store only (the report vanished): still expected.
  in_.reports.clear();
  in_.reported_before[{"n1", "internal"}] = "";
  AgentSummary later = AgentStatuses(in_);
  ASSERT_EQ(later.hosts.size(), 2u);
  EXPECT_EQ(later.hosts[0].instance, "internal");  // by instance, not twice for the host
  EXPECT_EQ(later.missing, 2);
}

TEST_F(AgentStatusTest, TheStoreRecordsReportsAndReadsThemBack) {
  Put(Report("n1", "internal"));
  Put("bad/x", "y", "z");  // never recorded: a key of another shape
  auto obs = AgentObservations(in_);
  ASSERT_EQ(obs.size(), 1u);
  EXPECT_EQ(obs[0].resource, "agent-report:p/n1/internal");
  EXPECT_EQ(obs[0].token, "9");
  EXPECT_EQ(obs[0].body, render::AgentReportToJson(Report("n1", "internal")));

  std::map<std::string, store::Observation> latest{
      {obs[0].resource, obs[0]},
      {"agent-report:q/n9/internal", obs[0]},  // another platform's
      {"consul-kv:app/x", store::Observation{}},
  };
  auto before = ReportedBefore(latest, "p");
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before.begin()->first, (std::pair<std::string, std::string>{"n1", "internal"}));
  EXPECT_EQ(before.begin()->second, "2026-12-07T10:00:00.000Z");
}

TEST_F(AgentStatusTest, JsonAndText) {
  render::AgentReport r = Report("n1", "internal", "sha256:old");
  r.hand_changes = {"be/s maint"};
  Put(r);
  in_.reported_before[{"n2", "internal"}] = "";
  AgentSummary s = AgentStatuses(in_);
  json doc = AgentsToJson(s);
  EXPECT_EQ(
      doc["counts"],
      json({{"in_sync", 0}, {"pending", 1}, {"failed", 0}, {"missing", 1}, {"hand_changes", 1}}));
  ASSERT_EQ(doc["hosts"].size(), 2u);
  EXPECT_EQ(doc["hosts"][0]["state"], "pending");
  EXPECT_EQ(doc["hosts"][0]["servers"], json({{"up", 3}}));
  EXPECT_EQ(doc["hosts"][0]["hand_changes"], json({"be/s maint"}));
  EXPECT_EQ(doc["hosts"][1]["state"], "missing agent");
  EXPECT_EQ(doc["hosts"][1]["key"], "");
  std::string text = RenderAgentsText(s, false);
  EXPECT_EQ(text.rfind("\nAgents (0 in sync, 1 pending, 0 failed, 1 missing, 1 hand change):\n", 0),
            0u)
      << text;
  EXPECT_NE(text.find("  n1/internal  pending       runs model sha256:old, published "
                      "sha256:aaaa11112222; servers: 3 up\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  n2/internal  missing agent no report now"), std::string::npos) << text;
  EXPECT_NE(RenderAgentsMarkdown(s).find("| `n1` | `internal` | pending |"), std::string::npos);
}

}  // namespace
}  // namespace galley::engine
