// SPDX-License-Identifier: Apache-2.0
#include "engine/agent_status.h"

#include <algorithm>
#include <tuple>

#include "base/digest.h"
#include "base/strings.h"
#include "engine/resource_key.h"
#include "engine/view_text.h"
#include "render/lb_model.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxReportBody = 64 * 1024;

// "sha256:0123456789ab" (the first 12 hex digits: enough to tell digests apart in a line).
std::string ShortDigest(const std::string& d) {
  if (d.empty()) return "(none)";
  auto colon = d.find(':');
  std::string hex = colon == std::string::npos ? d : d.substr(colon + 1);
  return (colon == std::string::npos ? "" : d.substr(0, colon + 1)) + hex.substr(0, 12);
}

// (node, instance) of a report key under `prefix`; ok false when the key has another shape.
struct KeyParts {
  std::string node, instance;
  bool ok = false;
};
KeyParts SplitReportKey(const std::string& prefix, const std::string& key) {
  KeyParts p;
  std::string rest = key.substr(prefix.size());
  auto slash = rest.find('/');
  if (slash == std::string::npos) {
    p.node = rest;
    return p;
  }
  p.node = rest.substr(0, slash);
  p.instance = rest.substr(slash + 1);
  p.ok = !p.node.empty() && !p.instance.empty() && p.instance.find('/') == std::string::npos;
  return p;
}

void Classify(AgentStatus& st, const render::AgentReport& r, const AgentInput& in) {
  st.agent_version = r.agent_version;
  st.model_digest = r.model_digest;
  st.config_digest = r.config_digest;
  st.haproxy_pid = r.haproxy_pid;
  st.last_reload = r.last_reload;
  st.last_reload_reason = r.last_reload_reason;
  st.last_error = r.last_error;
  st.report_time = r.report_time;
  st.servers = r.servers;
  st.hand_changes = r.hand_changes;
  auto pub = in.published.find(st.instance);
  st.published_digest = pub == in.published.end() ? "" : pub->second;
  if (!r.last_error.empty()) {
    st.state = AgentState::kFailed;
    st.detail = r.last_error;
  } else if (r.haproxy_pid <= 0) {
    st.state = AgentState::kFailed;
    st.detail = "HAProxy is not running";
  } else if (pub == in.published.end()) {
    st.state = AgentState::kPending;
    st.detail = "instance " + st.instance + " is not declared in galley.yaml";
  } else if (st.published_digest.empty()) {
    st.state = AgentState::kPending;
    st.detail = "galley has published no model for " + st.instance + " yet (galley apply does)";
  } else if (r.model_digest != st.published_digest) {
    st.state = AgentState::kPending;
    st.detail = "runs model " + ShortDigest(r.model_digest) + ", published " +
                ShortDigest(st.published_digest);
  } else {
    st.state = AgentState::kInSync;
    st.detail = "runs model " + ShortDigest(r.model_digest);
  }
}

std::string ServersText(const std::map<std::string, int>& servers) {
  std::vector<std::string> parts;
  for (const auto& [state, n] : servers) parts.push_back(std::to_string(n) + " " + state);
  return Join(parts, ", ");
}

}  // namespace

const char* AgentStateName(AgentState s) {
  switch (s) {
    case AgentState::kInSync:
      return "in sync";
    case AgentState::kPending:
      return "pending";
    case AgentState::kFailed:
      return "failed";
    case AgentState::kMissing:
      return "missing agent";
  }
  return "missing agent";
}

AgentSummary AgentStatuses(const AgentInput& in) {
  AgentSummary out;
  const std::string prefix = render::AgentReportPrefix(in.platform);
  std::set<std::pair<std::string, std::string>> seen;
  std::set<std::string> nodes_reporting;
  for (const auto& [key, entry] : in.reports) {
    if (key.size() <= prefix.size() || key.compare(0, prefix.size(), prefix) != 0) continue;
    KeyParts parts = SplitReportKey(prefix, key);
    AgentStatus st;
    st.node = parts.node;
    st.instance = parts.instance;
    st.key = key;
    nodes_reporting.insert(st.node);
    if (!parts.ok) {
      st.state = AgentState::kFailed;
      st.detail = "unexpected key " + key + " (reports are at " + prefix + "<node>/<instance>)";
    } else {
      auto report = render::ParseAgentReport(entry.value);
      if (!report.ok()) {
        st.state = AgentState::kFailed;
        st.detail = "the report cannot be read: " + report.status().message();
      } else {
        Classify(st, *report, in);
      }
    }
    seen.insert({st.node, st.instance});
    out.hosts.push_back(std::move(st));
  }
  out.any_agent = !in.reports.empty() || !in.reported_before.empty();
  for (const auto& [who, when] : in.reported_before) {
    if (seen.count(who)) continue;
    AgentStatus st;
    st.node = who.first;
    st.instance = who.second;
    st.state = AgentState::kMissing;
    st.detail = "no report now (" +
                (when.empty() ? std::string("it reported before") : "last report " + when) +
                "): the agent stopped or lost its Consul session";
    auto pub = in.published.find(st.instance);
    if (pub != in.published.end()) st.published_digest = pub->second;
    seen.insert(who);
    nodes_reporting.insert(st.node);  // accounted for, by instance
    out.hosts.push_back(std::move(st));
  }
  if (out.any_agent) {
    for (const auto& host : in.task_hosts) {
      if (host.empty() || nodes_reporting.count(host)) continue;
      AgentStatus st;
      st.node = host;
      st.state = AgentState::kMissing;
      st.detail = "runs Marathon tasks, but no agent reports from it";
      out.hosts.push_back(std::move(st));
    }
  }
  std::sort(out.hosts.begin(), out.hosts.end(), [](const AgentStatus& a, const AgentStatus& b) {
    return std::tie(a.node, a.instance) < std::tie(b.node, b.instance);
  });
  for (const auto& h : out.hosts) {
    out.in_sync += h.state == AgentState::kInSync;
    out.pending += h.state == AgentState::kPending;
    out.failed += h.state == AgentState::kFailed;
    out.missing += h.state == AgentState::kMissing;
    out.hand_changes += static_cast<int>(h.hand_changes.size());
  }
  return out;
}

std::map<std::pair<std::string, std::string>, std::string> ReportedBefore(
    const std::map<std::string, store::Observation>& latest, const std::string& platform) {
  std::map<std::pair<std::string, std::string>, std::string> out;
  const std::string prefix = std::string(kAgentReportResourcePrefix) + platform + "/";
  for (auto it = latest.lower_bound(prefix); it != latest.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    std::string rest = it->first.substr(prefix.size());
    auto slash = rest.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == rest.size()) continue;
    std::string when;
    auto report = render::ParseAgentReport(it->second.body);
    if (report.ok()) when = report->report_time;
    out[{rest.substr(0, slash), rest.substr(slash + 1)}] = when;
  }
  return out;
}

std::vector<store::Observation> AgentObservations(const AgentInput& in) {
  std::vector<store::Observation> obs;
  const std::string prefix = render::AgentReportPrefix(in.platform);
  for (const auto& [key, entry] : in.reports) {
    if (key.size() <= prefix.size() || key.compare(0, prefix.size(), prefix) != 0) continue;
    KeyParts parts = SplitReportKey(prefix, key);
    if (!parts.ok) continue;  // shown as failed; not an agent the store should expect again
    store::Observation o;
    o.resource = AgentReportResource(in.platform, parts.node, parts.instance);
    o.hash = Sha256Hex(entry.value);
    o.token = std::to_string(entry.modify_index);
    o.body = entry.value.size() <= kMaxReportBody ? entry.value : "";
    obs.push_back(std::move(o));
  }
  return obs;
}

json AgentsToJson(const AgentSummary& s) {
  json hosts = json::array();
  for (const auto& h : s.hosts) {
    json servers = json::object();
    for (const auto& [state, n] : h.servers) servers[state] = n;
    hosts.push_back(json{{"node", h.node},
                         {"instance", h.instance},
                         {"state", AgentStateName(h.state)},
                         {"detail", h.detail},
                         {"key", h.key},
                         {"agent_version", h.agent_version},
                         {"model_digest", h.model_digest},
                         {"published_digest", h.published_digest},
                         {"config_digest", h.config_digest},
                         {"haproxy_pid", h.haproxy_pid},
                         {"last_reload", h.last_reload},
                         {"last_reload_reason", h.last_reload_reason},
                         {"last_error", h.last_error},
                         {"report_time", h.report_time},
                         {"servers", servers},
                         {"hand_changes", h.hand_changes}});
  }
  return json{{"counts", json{{"in_sync", s.in_sync},
                              {"pending", s.pending},
                              {"failed", s.failed},
                              {"missing", s.missing},
                              {"hand_changes", s.hand_changes}}},
              {"hosts", hosts}};
}

namespace {

std::string CountsLine(const AgentSummary& s) {
  return std::to_string(s.in_sync) + " in sync, " + std::to_string(s.pending) + " pending, " +
         std::to_string(s.failed) + " failed, " + std::to_string(s.missing) + " missing, " +
         std::to_string(s.hand_changes) + (s.hand_changes == 1 ? " hand change" : " hand changes");
}

}  // namespace

std::string RenderAgentsText(const AgentSummary& s, bool color) {
  if (s.hosts.empty()) return "";
  auto wrap = [color](const char* code, const std::string& t) {
    return color ? std::string("\033[") + code + "m" + t + "\033[0m" : t;
  };
  std::string out = "\nAgents (" + CountsLine(s) + "):\n";
  size_t width = 0;
  for (const auto& h : s.hosts)
    width = std::max(width, Printable(h.node).size() + 1 + Printable(h.instance).size());
  width = std::min<size_t>(width, 48);
  for (const auto& h : s.hosts) {
    std::string who = Printable(h.node) + (h.instance.empty() ? "" : "/" + Printable(h.instance));
    const char* code = h.state == AgentState::kInSync    ? "32"
                       : h.state == AgentState::kPending ? "33"
                                                         : "31";
    std::string state = AgentStateName(h.state);
    out += "  " + who + std::string(width > who.size() ? width - who.size() : 0, ' ') + "  " +
           wrap(code, state) + std::string(state.size() < 13 ? 13 - state.size() : 0, ' ') + " " +
           Printable(h.detail, 200);
    if (!h.servers.empty()) out += "; servers: " + ServersText(h.servers);
    out += "\n";
    for (const auto& c : h.hand_changes)
      out += "      " + wrap("33", "hand change: ") + Printable(c, 200) + "\n";
  }
  return out;
}

std::string RenderAgentsMarkdown(const AgentSummary& s) {
  if (s.hosts.empty()) return "";
  std::string out =
      "\n**Agents:** " + CountsLine(s) +
      "\n\n| host | instance | state | detail | hand changes |\n|---|---|---|---|---|\n";
  for (const auto& h : s.hosts) {
    out += "| " + MarkdownCode(h.node) + " | " +
           (h.instance.empty() ? "" : MarkdownCode(h.instance)) + " | " + AgentStateName(h.state) +
           " | " + MarkdownCode(Printable(h.detail, 200)) + " | " +
           MarkdownCode(Join(h.hand_changes, "; ")) + " |\n";
  }
  return out;
}

}  // namespace galley::engine
