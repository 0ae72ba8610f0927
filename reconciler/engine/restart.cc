// SPDX-License-Identifier: Apache-2.0
#include "engine/restart.h"

#include <algorithm>
#include <map>
#include <vector>

#include "base/strings.h"
#include "engine/ownership.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

// "minimumHealthCapacity 0.5, maximumOverCapacity 0.5" (Marathon's defaults are 1 and 1).
std::string Strategy(const json& body) {
  double min_health = 1.0, max_over = 1.0;
  if (body.contains("upgradeStrategy") && body["upgradeStrategy"].is_object()) {
    const json& u = body["upgradeStrategy"];
    if (u.contains("minimumHealthCapacity") && u["minimumHealthCapacity"].is_number()) {
      min_health = u["minimumHealthCapacity"].get<double>();
    }
    if (u.contains("maximumOverCapacity") && u["maximumOverCapacity"].is_number()) {
      max_over = u["maximumOverCapacity"].get<double>();
    }
  }
  return "minimumHealthCapacity " + json(min_health).dump() + ", maximumOverCapacity " +
         json(max_over).dump();
}

}  // namespace

Result<Plan> MakeRestartPlan(const PlanInput& in, const std::string& service) {
  // What a regular plan would do, to say which changes a restart leaves pending.
  Plan regular = MakePlan(in);
  std::map<std::string, const Action*> pending;
  for (const auto& a : regular.actions) {
    if (IsAppAction(a.kind)) pending[a.target] = &a;
  }

  Plan plan;
  plan.platform = in.platform;
  plan.environments = in.environments;
  plan.targets = {service};
  plan.observed_apps = static_cast<int>(in.live.apps.size());
  plan.observed_keys = static_cast<int>(in.live.kv.size());
  plan.requests = in.live.requests;
  std::vector<std::string> errors;
  for (const auto& env : in.environments) {
    for (const auto& d : in.apps) {
      if (d.service != service || d.env != env) continue;
      if (d.paused || in.paused_environments.count(d.env)) {
        plan.skipped.push_back({d.id, "paused; not restarted"});
        continue;
      }
      auto live = in.live.apps.find(d.id);
      if (live == in.live.apps.end()) {
        plan.skipped.push_back(
            {d.id, "not deployed; nothing to restart (galley apply creates it)"});
        continue;
      }
      const model::LiveApp& l = live->second;
      if (!Labelled(l.body, in.platform) && !in.applied_apps.count(d.id)) {
        errors.push_back(
            d.id + " is not galley's (no " + std::string(kPlatformLabel) + "=" + in.platform +
            " label, no applied record); galley does not restart an app it does not own");
        continue;
      }
      Action a;
      a.id = "app:" + d.id;
      a.kind = ActionKind::kAppRestart;
      a.reason = Reason::kRequested;
      a.service = d.service;
      a.env = d.env;
      a.target = d.id;
      a.token = l.version;
      a.live_digest = LiveDigest(l.body);
      a.desired = l.body;  // the definition stays as it is live
      a.notes.push_back("restart requested: Marathon replaces all " + std::to_string(l.instances) +
                        " tasks, honouring the app's upgradeStrategy (" + Strategy(l.body) + ")");
      if (!l.deployment_ids.empty()) {
        a.notes.push_back("a deployment is running on it now (" + Join(l.deployment_ids, ", ") +
                          "); the restart waits for it (--force supersedes it)");
      }
      if (auto p = pending.find(d.id); p != pending.end()) {
        a.notes.push_back("a pending " + std::string(ActionKindName(p->second->kind)) + " (" +
                          ReasonName(p->second->reason) +
                          ") is not part of the restart; see `galley plan`");
      }
      plan.actions.push_back(std::move(a));
    }
  }
  if (!errors.empty()) return Status::InvalidArgument(Join(errors, "; "));
  if (plan.actions.empty()) {
    std::string why;
    for (const auto& s : plan.skipped) why += (why.empty() ? "" : "; ") + s.target + ": " + s.why;
    return Status::NotFound("nothing to restart for service " + service +
                            (why.empty() ? " in the environments in scope" : ": " + why));
  }
  return plan;
}

}  // namespace galley::engine
