// SPDX-License-Identifier: Apache-2.0
// The two JSON documents central galley and the per-host agents exchange through Consul KV
// (DESIGN §8 point 14):
//   - the LB model of one HAProxy instance, written by `galley apply` to
//     `galley/<platform>/haproxy/<instance>`: the renderer's inputs for that instance (the
//     platform's environments, maxconn and well-known services, the instance, and of every
//     service only what the HAProxy renderer reads), never live servers. An agent renders
//     its config from the model plus the instances it sees in Consul, with the same pure
//     renderer as `galley render`, so both produce the same bytes.
//   - the agent's report, written by each agent to `galley/<platform>/agents/<node>/<instance>`
//     under its own Consul session.
// Both carry a schema version; the model carries the digest of its canonical JSON, so a
// reader can tell "the agent runs the model galley published" by comparing digests.
// Pure: no socket, file or clock. Values; not synchronised.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "model/desired_state.h"

namespace galley::render {

inline constexpr int kLbModelSchema = 1;
inline constexpr int kAgentReportSchema = 1;

// KV keys, without a leading slash.
std::string LbModelKey(const std::string& platform, const std::string& instance);
std::string AgentReportPrefix(const std::string& platform);  // "galley/<p>/agents/"
std::string AgentReportKey(const std::string& platform, const std::string& node,
                           const std::string& instance);

struct LbModel {
  // A desired state trimmed to what RenderHaproxyConfig reads: platform name, environments
  // (name, port prefix, host prefix), haproxy maxconn, well-known services, and per service
  // its name, ports, health (path, interval), balance, external hosts and environment names.
  // Rendering the trimmed state gives the same bytes as rendering the whole one.
  model::DesiredState state;
  model::HaproxyInstance instance;  // as declared in galley.yaml (positions dropped)
};

// The model of `instance` (an instance of state.platform.haproxy, or InstanceForRole's default).
LbModel LbModelFor(const model::DesiredState& state, const model::HaproxyInstance& instance);

// The canonical document: {"schema":1,"digest":"sha256:<hex>","platform":…,"instance":{…},
// "maxconn":…,"environments":[…],"well_known":[…],"services":[…]}, keys sorted, no
// whitespace. The digest is SHA-256 of the same document without its "digest" member.
std::string LbModelToJson(const LbModel& model);
// "sha256:<hex>" of the model (what LbModelToJson puts in "digest").
std::string LbModelDigest(const LbModel& model);

// Reads a document LbModelToJson wrote. Errors (kInvalidArgument, naming the member): not
// JSON, another schema version, a missing or mistyped member, a digest that does not match
// the content (a hand-edited key), values the renderer would refuse (a name with
// characters outside [A-Za-z0-9._:-], a port outside 1..65535).
[[nodiscard]] Result<LbModel> ParseLbModel(std::string_view text);

// ---- The agent's report ------------------------------------------------------------------

struct AgentReport {
  int schema = kAgentReportSchema;
  std::string node;
  std::string instance;
  std::string agent_version;
  std::string model_digest;        // of the LB model the running config was rendered from; "" none
  std::string config_digest;       // "sha256:<hex>" of the config file HAProxy runs; "" none
  int haproxy_pid = 0;             // the master's pid; 0 = HAProxy is not running
  std::string haproxy_started;     // base/time_text timestamp; "" unknown
  std::string last_reload;         // timestamp of the last reload; "" never
  std::string last_reload_reason;  // "structure changed: …", "adopted", "started"
  std::map<std::string, int> servers;  // by state: "up", "down", "drain", "maint"
  // Servers in drain/maint that galley did not put there: "<backend>/<server> maint".
  std::vector<std::string> hand_changes;
  std::string last_error;   // "" when the last sync succeeded
  std::string report_time;  // timestamp
  bool operator==(const AgentReport&) const = default;
};

std::string AgentReportToJson(const AgentReport& report);
// Errors name the member; unknown members are ignored (a newer agent may add some).
[[nodiscard]] Result<AgentReport> ParseAgentReport(std::string_view text);

}  // namespace galley::render
