// SPDX-License-Identifier: Apache-2.0
#include "sandbox/marathon/deployment.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <set>

namespace galley::sandbox::marathon {
namespace {

Json ActionsJson(const std::vector<DeploymentAction>& actions, bool readiness) {
  Json out = Json::array();
  for (const auto& a : actions) {
    Json j = {{"action", a.action}, {"app", a.app}};
    if (readiness) j["readinessCheckResults"] = Json::array();
    out.push_back(j);
  }
  return out;
}

}  // namespace

Json Deployment::StepInfoJson() const {
  Json steps_json = Json::array();
  for (const auto& s : steps) steps_json.push_back({{"actions", ActionsJson(s, false)}});
  Json current = Json::array();
  if (current_step >= 1 && current_step <= steps.size())
    current = ActionsJson(steps[current_step - 1], true);
  return Json{{"id", id},
              {"version", version},
              {"affectedApps", affected_apps},
              {"affectedPods", Json::array()},
              {"steps", steps_json},
              {"currentActions", current},
              {"currentStep", current_step},
              {"totalSteps", steps.size()}};
}

Json Deployment::PlanJson(bool with_groups) const {
  Json steps_json = Json::array();
  for (const auto& s : steps) steps_json.push_back({{"actions", ActionsJson(s, false)}});
  Json plan = {{"id", id}, {"version", version}, {"steps", steps_json}};
  if (with_groups) {
    // The heavy 1.5–1.7 plan format, reduced to the affected apps: python-marathon's event
    // parser needs `original` and `target`.
    auto group = [&](const std::map<std::string, std::optional<Json>>& apps) {
      Json list = Json::array();
      for (const auto& [app_id, def] : apps) {
        if (def) list.push_back(*def);
      }
      return Json{{"id", "/"},
                  {"apps", list},
                  {"groups", Json::array()},
                  {"pods", Json::array()},
                  {"dependencies", Json::array()},
                  {"version", version}};
    };
    plan["original"] = group(original);
    plan["target"] = group(target);
  }
  return plan;
}

Json Deployment::CurrentStepJson() const {
  if (current_step >= 1 && current_step <= steps.size())
    return Json{{"actions", ActionsJson(steps[current_step - 1], false)}};
  return Json{{"actions", Json::array()}};
}

std::vector<std::vector<DeploymentAction>> PlanSteps(const std::vector<AppChange>& changes) {
  std::vector<std::vector<DeploymentAction>> steps;
  std::vector<DeploymentAction> stops, starts;
  std::map<std::string, const AppChange*> by_id;
  for (const auto& c : changes) {
    if (c.kind == AppChange::kDelete) {
      stops.push_back({"StopApplication", c.app_id});
    } else {
      if (c.kind == AppChange::kCreate) starts.push_back({"StartApplication", c.app_id});
      by_id[c.app_id] = &c;
    }
  }
  if (!stops.empty()) steps.push_back(stops);
  if (!starts.empty()) steps.push_back(starts);
  // Longest dependency path within the changed apps (cycles are cut).
  std::map<std::string, int> depth;
  std::set<std::string> visiting;
  std::function<int(const std::string&)> longest = [&](const std::string& id) -> int {
    if (auto it = depth.find(id); it != depth.end()) return it->second;
    if (!visiting.insert(id).second) return 0;
    int d = 0;
    for (const auto& dep : by_id[id]->dependencies) {
      if (by_id.count(dep)) d = std::max(d, 1 + longest(dep));
    }
    visiting.erase(id);
    depth[id] = d;
    return d;
  };
  std::map<int, std::vector<DeploymentAction>> levels;
  for (const auto& [id, c] : by_id) {
    int d = longest(id);
    levels[d].push_back(
        {c->kind == AppChange::kRestart ? "RestartApplication" : "ScaleApplication", id});
  }
  for (auto& [d, actions] : levels) steps.push_back(actions);
  return steps;
}

RollingBounds ComputeRollingBounds(int instances, double minimum_health_capacity,
                                   double maximum_over_capacity) {
  RollingBounds b;
  b.min_healthy = static_cast<int>(std::ceil(instances * minimum_health_capacity - 1e-9));
  // Clamped: instances near INT32_MAX with over-capacity would not fit an int.
  b.max_capacity = static_cast<int>(
      std::min<double>(INT32_MAX, std::floor(instances * (1.0 + maximum_over_capacity) + 1e-9)));
  if (b.min_healthy < 0) b.min_healthy = 0;
  if (b.max_capacity < instances) b.max_capacity = instances;
  return b;
}

}  // namespace galley::sandbox::marathon
