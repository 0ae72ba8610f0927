// SPDX-License-Identifier: Apache-2.0
// `galley restart SERVICE`: a planned rolling restart (Terraform's -replace, Nomad's `job
// restart`). One app-restart action with reason "requested" per environment in scope where
// the service's app is live and galley's; apply sends it as POST /v2/apps/{id}/restart, so
// Marathon keeps the definition and replaces every task per the app's upgradeStrategy
// (minimumHealthCapacity / maximumOverCapacity), and the action is journaled like any other
// (what galley applied is left as it was). The action is planned against the live version
// like an update (a hand change since the plan is a conflict). Paused services and
// environments and apps not deployed are skipped and listed; an app galley does not own (no
// label, no applied record) is an error, and so is nothing to restart. Pending changes of
// the app are noted, not applied. Pure; thread-safe.
#pragma once

#include <string>

#include "base/status.h"
#include "engine/plan.h"
#include "engine/planner.h"

namespace galley::engine {

Result<Plan> MakeRestartPlan(const PlanInput& in, const std::string& service);

}  // namespace galley::engine
