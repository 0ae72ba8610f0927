// SPDX-License-Identifier: Apache-2.0
#include "engine/status.h"

#include <algorithm>
#include <map>
#include <set>

#include "base/strings.h"
#include "engine/ownership.h"
#include "engine/view_text.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

std::string ImageOf(const json& body) {
  const json* image = nullptr;
  if (body.is_object() && body.contains("container") && body["container"].is_object()) {
    const json& c = body["container"];
    if (c.contains("docker") && c["docker"].is_object() && c["docker"].contains("image"))
      image = &c["docker"]["image"];
  }
  return image && image->is_string() ? image->get<std::string>() : "";
}

bool HasHealthChecks(const json& body) {
  return body.is_object() && body.contains("healthChecks") && body["healthChecks"].is_array() &&
         !body["healthChecks"].empty();
}

// "app update (desired-changed): image, labels.version"; "kv put app/x/K (new)"; "job
// production-web-report create (new)"; "hook production-web-migrate run (new)".
std::string DescribeAction(const Action& a) {
  std::string what = IsAppAction(a.kind) ? "app " + std::string(ActionKindName(a.kind)).substr(4)
                     : IsJobAction(a.kind)
                         ? "job " + a.target + " " + std::string(ActionKindName(a.kind)).substr(4)
                     : IsHookAction(a.kind)
                         ? "hook " + a.target + " run"
                         : "key " + a.target + " " + std::string(ActionKindName(a.kind)).substr(3);
  std::string out = what + " (" + ReasonName(a.reason) + ")";
  if (IsAppAction(a.kind) && a.kind != ActionKind::kAppCreate && !a.changes.empty()) {
    std::vector<std::string> fields;
    for (const auto& c : a.changes) fields.push_back(FieldName(c.pointer));
    out += ": " + Join(fields, ", ");
  }
  return Printable(out);
}

struct Style {
  bool color;
  std::string Wrap(const char* code, const std::string& s) const {
    return color ? std::string("\033[") + code + "m" + s + "\033[0m" : s;
  }
};

const char* ColorOf(SyncState s) {
  switch (s) {
    case SyncState::kInSync:
      return "32";
    case SyncState::kPending:
      return "33";
    case SyncState::kDrifted:
      return "35";
    case SyncState::kFailed:
      return "31";
    case SyncState::kPaused:
      return "90";
    case SyncState::kUnmanaged:
      return "36";
  }
  return "0";
}

}  // namespace

const char* SyncStateName(SyncState s) {
  switch (s) {
    case SyncState::kInSync:
      return "in sync";
    case SyncState::kPending:
      return "pending";
    case SyncState::kDrifted:
      return "drifted";
    case SyncState::kFailed:
      return "failed";
    case SyncState::kPaused:
      return "paused";
    case SyncState::kUnmanaged:
      return "unmanaged";
  }
  return "?";
}

std::string ImageTag(const std::string& reference) {
  std::string image = reference.substr(0, reference.find('@'));  // name:tag@sha256:...
  size_t slash = image.rfind('/');
  size_t colon = image.rfind(':');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) return "";
  return image.substr(colon + 1);
}

StatusReport BuildStatus(const PlanInput& in, const Plan& plan) {
  StatusReport r;
  r.platform = in.platform;
  r.environments = in.environments;
  r.warnings = plan.warnings;

  // Which service × environment each desired object and each plan line belongs to.
  using Key = std::pair<std::string, std::string>;  // {service, env}
  std::map<std::string, Key> owner;                 // app id / KV key → {service, env}
  for (const auto& d : in.apps) owner[d.id] = {d.service, d.env};
  for (const auto& k : in.kv) owner[k.key] = {k.service, k.env};
  std::map<Key, std::vector<const Action*>> actions;
  for (const auto& a : plan.actions) {
    if (a.reason == Reason::kOrphan) {
      ++r.orphans;
      continue;
    }
    actions[{a.service, a.env}].push_back(&a);
  }
  std::map<Key, std::vector<std::string>> reported;  // drift kept by policy "report"
  for (const auto& item : plan.drift_reported) {
    if (auto it = owner.find(item.target); it != owner.end())
      reported[it->second].push_back(Printable(item.target + ": " + item.why));
  }
  std::set<std::string> declared_ids;
  for (const auto& d : in.apps) declared_ids.insert(d.id);
  for (const auto& item : plan.unmanaged) {
    if (!declared_ids.count(item.target) && !owner.count(item.target)) ++r.unmanaged;
  }

  auto env_rank = [&](const std::string& env) {
    return std::find(in.environments.begin(), in.environments.end(), env) - in.environments.begin();
  };
  for (const auto& d : in.apps) {
    bool env_in_scope =
        std::find(in.environments.begin(), in.environments.end(), d.env) != in.environments.end();
    if (!env_in_scope || (!in.targets.empty() && !in.targets.count(d.service))) continue;
    StatusRow row;
    row.service = d.service;
    row.env = d.env;
    row.app_id = d.id;
    row.desired_tag = ImageTag(ImageOf(d.body));
    row.desired_instances = d.body.is_object() ? d.body.value("instances", 1) : 1;
    auto live = in.live.apps.find(d.id);
    bool labelled = true;
    if (live != in.live.apps.end()) {
      const model::LiveApp& l = live->second;
      row.live = true;
      row.live_tag = ImageTag(ImageOf(l.body));
      row.wanted = l.instances;
      row.running = l.tasks_running;
      row.healthy = HasHealthChecks(l.body) ? l.tasks_healthy : l.tasks_running;
      row.deploying = !l.deployment_ids.empty();
      row.deployments = l.deployment_ids;
      labelled = Labelled(l.body, in.platform) || in.applied_apps.count(d.id);  // galley's
    }
    const Key key{d.service, d.env};
    bool pending = false, drifted = false, failed = false;
    for (const Action* a : actions[key]) {
      row.details.push_back(DescribeAction(*a));
      if (a->last_failure) {
        failed = true;
        if (!row.last_failure || a->last_failure->at > row.last_failure->at)
          row.last_failure = a->last_failure;
      }
      if (a->reason == Reason::kDrifted)
        drifted = true;
      else
        pending = true;
    }
    for (const auto& why : reported[key]) {
      row.details.push_back("drift kept (policy report): " + why);
      drifted = true;
    }
    if (d.paused || in.paused_environments.count(d.env)) {
      row.state = SyncState::kPaused;
    } else if (!labelled) {
      row.state = SyncState::kUnmanaged;
      row.details.push_back("the live app is not galley's (no " + std::string(kPlatformLabel) +
                            "=" + in.platform +
                            " label, no applied record); galley does not take it over");
    } else if (failed) {
      row.state = SyncState::kFailed;
    } else if (pending) {
      row.state = SyncState::kPending;
    } else if (drifted) {
      row.state = SyncState::kDrifted;
    }
    r.rows.push_back(std::move(row));
  }
  std::stable_sort(r.rows.begin(), r.rows.end(), [&](const StatusRow& a, const StatusRow& b) {
    if (a.service != b.service) return a.service < b.service;
    return env_rank(a.env) < env_rank(b.env);
  });
  return r;
}

json StatusToJson(const StatusReport& r) {
  json rows = json::array();
  std::map<std::string, int> counts;
  for (const char* s : {"in sync", "pending", "drifted", "failed", "paused", "unmanaged"})
    counts[s] = 0;
  for (const auto& row : r.rows) {
    ++counts[SyncStateName(row.state)];
    json j{{"service", row.service},
           {"environment", row.env},
           {"app", row.app_id},
           {"live", row.live},
           {"live_tag", row.live_tag},
           {"desired_tag", row.desired_tag},
           {"instances", json{{"healthy", row.healthy},
                              {"running", row.running},
                              {"wanted", row.wanted},
                              {"desired", row.desired_instances}}},
           {"deploying", row.deploying},
           {"deployments", row.deployments},
           {"state", SyncStateName(row.state)},
           {"details", row.details}};
    if (row.last_failure) {
      j["last_failure"] = json{{"run", row.last_failure->run_id},
                               {"at", row.last_failure->at},
                               {"error", row.last_failure->error}};
    }
    rows.push_back(std::move(j));
  }
  return json{{"galley_status", kStatusSchemaVersion},
              {"galley_version", r.galley_version},
              {"platform", r.platform},
              {"commit", r.commit},
              {"checked_at", r.checked_at},
              {"environments", r.environments},
              {"services", rows},
              {"counts", counts},
              {"unmanaged", r.unmanaged},
              {"orphans", r.orphans},
              {"warnings", r.warnings}};
}

std::string RenderStatusText(const StatusReport& r, bool color) {
  Style st{color};
  std::string out = "galley status for platform " + r.platform +
                    (r.commit.empty() ? "" : " at commit " + ShortCommit(r.commit)) + "\n";
  for (const auto& w : r.warnings) out += st.Wrap("33", "warning: ") + Printable(w) + "\n";
  if (r.rows.empty()) return out + "\nNo services in scope.\n";
  std::vector<std::vector<std::string>> cells = {
      {"SERVICE", "ENVIRONMENT", "TAG", "HEALTHY", "DEPLOYING", "STATE"}};
  for (const auto& row : r.rows) {
    std::string tag =
        row.live ? (row.live_tag.empty() ? "(none)" : row.live_tag) : "(not deployed)";
    if (row.desired_tag != row.live_tag && !row.desired_tag.empty()) tag += " → " + row.desired_tag;
    std::string healthy =
        row.live ? std::to_string(row.healthy) + "/" + std::to_string(row.wanted) : "-";
    if (row.live && row.desired_instances != row.wanted)
      healthy += " → " + std::to_string(row.desired_instances);
    cells.push_back({row.service, row.env, Printable(tag), healthy, row.deploying ? "yes" : "no",
                     SyncStateName(row.state)});
  }
  std::vector<size_t> width(cells[0].size(), 0);
  auto display = [](const std::string& s) {  // code points, so "→" counts as one column
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  for (const auto& c : cells) {
    for (size_t i = 0; i < c.size(); ++i) width[i] = std::max(width[i], display(c[i]));
  }
  out += "\n";
  for (size_t k = 0; k < cells.size(); ++k) {
    std::string line;
    for (size_t i = 0; i < cells[k].size(); ++i) {
      std::string cell = cells[k][i];
      bool last = i + 1 == cells[k].size();
      if (k > 0 && last) cell = st.Wrap(ColorOf(r.rows[k - 1].state), cell);
      line += cell + (last ? "" : std::string(width[i] - display(cells[k][i]) + 2, ' '));
    }
    out += line + "\n";
  }
  bool any_detail = false;
  for (const auto& row : r.rows) {
    if (row.state == SyncState::kInSync || row.state == SyncState::kPaused) continue;
    if (!any_detail) out += "\n";
    any_detail = true;
    out += row.service + " in " + row.env + ": " +
           st.Wrap(ColorOf(row.state), SyncStateName(row.state)) + "\n";
    for (const auto& d : row.details) out += "  " + d + "\n";
    if (row.last_failure) {
      out += "  last failed: the same change failed at " + row.last_failure->at + " in run " +
             std::to_string(row.last_failure->run_id) + ": " + Printable(row.last_failure->error) +
             "; apply retries it only with --retry-failed\n";
    }
  }
  std::map<SyncState, int> n;
  for (const auto& row : r.rows) ++n[row.state];
  out += "\n" + std::to_string(r.rows.size()) + (r.rows.size() == 1 ? " app: " : " apps: ") +
         std::to_string(n[SyncState::kInSync]) + " in sync, " +
         std::to_string(n[SyncState::kPending]) + " pending, " +
         std::to_string(n[SyncState::kDrifted]) + " drifted, " +
         std::to_string(n[SyncState::kFailed]) + " failed, " +
         std::to_string(n[SyncState::kPaused]) + " paused";
  if (n[SyncState::kUnmanaged] > 0)
    out += ", " + std::to_string(n[SyncState::kUnmanaged]) + " unmanaged";
  out += ".\n";
  if (r.unmanaged + r.orphans > 0) {
    out += "Not declared under the managed prefixes: " + std::to_string(r.orphans) + " to prune, " +
           std::to_string(r.unmanaged) + " unmanaged (see `galley plan`).\n";
  }
  return out;
}

}  // namespace galley::engine
