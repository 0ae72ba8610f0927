// SPDX-License-Identifier: Apache-2.0
// Agent status (DESIGN §8 point 14): what `galley plan` and `galley drift` say about the
// per-host agents, from their reports in Consul (galley/<platform>/agents/<node>/<instance>,
// read with one recurse), the LB models galley published, the hosts of the Marathon tasks
// already observed and the (node, instance) pairs that reported before (the state store's
// observations) — no request of its own. Per host and instance, one state:
//  - in sync: the report's model_digest is the published model's digest, no last_error,
//    haproxy_pid > 0;
//  - pending: the agent runs another model digest (typically right after apply: it has not
//    caught up yet), or galley has published no model for the instance;
//  - failed: last_error set (a config refused, a reload failed) or haproxy_pid 0 (HAProxy
//    is not running), or the report cannot be read (not JSON, a wrong schema, an
//    unexpected key): a visible problem for that host, never a crash;
//  - missing agent: a (node, instance) that reported before has no report now (the agent
//    stopped: its session's report vanished), or a host that runs Marathon tasks has no
//    report at all — only once some agent of the platform reports or has reported (a
//    platform without agents has no missing ones).
// Hand changes (servers in drain/maint that galley did not put there) ride on any state.
// Failed, missing agents and hand changes are problems: `galley drift` counts them as drift.
// Pure; values.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/live_state.h"
#include "store/state_store.h"

namespace galley::engine {

enum class AgentState { kInSync, kPending, kFailed, kMissing };
const char* AgentStateName(AgentState s);  // "in sync", "pending", "failed", "missing agent"

struct AgentStatus {
  std::string node;
  std::string instance;  // "" for a task host with no report for any instance
  AgentState state = AgentState::kMissing;
  std::string detail;  // why, in a few words: the error, the digests, "no report since …"
  std::string key;     // the report's KV key; "" when missing
  // From the report (empty / 0 when missing or unreadable).
  std::string agent_version, model_digest, config_digest, last_reload, last_reload_reason,
      last_error, report_time;
  std::string published_digest;  // the model galley published for the instance; "" none
  int haproxy_pid = 0;
  std::map<std::string, int> servers;     // by state
  std::vector<std::string> hand_changes;  // "<backend>/<server> maint"
  bool operator==(const AgentStatus&) const = default;
};

struct AgentInput {
  std::string platform;
  // Instance → the digest of the model published now (the live document's "digest"); an
  // instance with no live model maps to "".
  std::map<std::string, std::string> published;
  // Every key under render::AgentReportPrefix(platform), as observed.
  std::map<std::string, model::LiveKvEntry> reports;
  std::set<std::string> task_hosts;  // `host` of every Marathon task observed
  // (node, instance) → when it last reported (the store's newest observation of it).
  std::map<std::pair<std::string, std::string>, std::string> reported_before;
};

struct AgentSummary {
  std::vector<AgentStatus> hosts;  // by (node, instance)
  int in_sync = 0, pending = 0, failed = 0, missing = 0;
  int hand_changes = 0;    // hand changes, over all hosts
  bool any_agent = false;  // some agent reports now or reported before

  // Failed and missing agents and hand changes: what drift counts.
  int problems() const { return failed + missing + hand_changes; }
};

AgentSummary AgentStatuses(const AgentInput& in);

// The reported_before map from the store's newest observations of agent reports
// (AgentReportResource keys of `platform`).
std::map<std::pair<std::string, std::string>, std::string> ReportedBefore(
    const std::map<std::string, store::Observation>& latest, const std::string& platform);

// What the store records of each report: "agent-report:<platform>/<node>/<instance>", the
// sha256 of the value, its ModifyIndex and the report itself (at most 64 KiB).
std::vector<store::Observation> AgentObservations(const AgentInput& in);

// {"counts": {"in_sync", "pending", "failed", "missing", "hand_changes"}, "hosts": [{"node",
// "instance", "state", "detail", "key", "agent_version", "model_digest", "published_digest",
// "config_digest", "haproxy_pid", "last_reload", "last_reload_reason", "last_error",
// "report_time", "servers": {state: n}, "hand_changes": [...]}]}.
nlohmann::json AgentsToJson(const AgentSummary& s);
// The "Agents" section of plan and drift text ("" when there is nothing to say: no agent
// ever reported and none is expected).
std::string RenderAgentsText(const AgentSummary& s, bool color);
std::string RenderAgentsMarkdown(const AgentSummary& s);

}  // namespace galley::engine
