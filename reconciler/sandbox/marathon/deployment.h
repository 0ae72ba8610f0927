// SPDX-License-Identifier: Apache-2.0
// Deployment plans (reference §6.1): steps of actions run in sequence, actions within a
// step in parallel; the DeploymentStepInfo JSON of GET /v2/deployments; the plan JSON of
// deployment events; and the rolling-restart arithmetic of TaskReplaceActor (§6.2).
// Values and pure functions; not synchronised (the emulator owns them under its lock).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sandbox/marathon/util.h"

namespace galley::sandbox::marathon {

struct DeploymentAction {
  std::string action;  // StartApplication, StopApplication, ScaleApplication, RestartApplication
  std::string app;
};

struct Deployment {
  std::string id;
  std::string version;
  std::vector<std::string> affected_apps;
  std::vector<std::vector<DeploymentAction>> steps;
  size_t current_step = 0;  // 1-based once started
  bool announced = false;   // deployment_info sent for the current step
  // App definitions before and after (nullopt: absent), for rollback and event plans.
  std::map<std::string, std::optional<Json>> original;
  std::map<std::string, std::optional<Json>> target;
  // Rolling restart: the capacity bound fixed when the action started, per app.
  std::map<std::string, int> restart_max_capacity;
  std::set<std::string> terminated_announced;

  Json StepInfoJson() const;              // GET /v2/deployments entry
  Json PlanJson(bool with_groups) const;  // events: {id, version, steps[, original, target]}
  Json CurrentStepJson() const;           // events: {actions:[...]}
};

// Builds the steps for a set of changes (DeploymentPlan.scala): one step stopping removed
// apps, one starting new apps, then apps in dependency order (longest dependency path
// first among the affected apps) with ScaleApplication (new app, or instances only) or
// RestartApplication (config change / restart). Empty steps are dropped.
struct AppChange {
  std::string app_id;
  enum Kind { kCreate, kScale, kRestart, kDelete } kind;
  std::vector<std::string> dependencies;  // canonical ids
};
std::vector<std::vector<DeploymentAction>> PlanSteps(const std::vector<AppChange>& changes);

// TaskReplaceActor arithmetic for n instances.
struct RollingBounds {
  int min_healthy = 0;   // ceil(n × minimumHealthCapacity)
  int max_capacity = 0;  // floor(n × (1 + maximumOverCapacity))
};
RollingBounds ComputeRollingBounds(int instances, double minimum_health_capacity,
                                   double maximum_over_capacity);

}  // namespace galley::sandbox::marathon
