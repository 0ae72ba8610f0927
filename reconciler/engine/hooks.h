// SPDX-License-Identifier: Apache-2.0
// Pre- and post-deploy hooks in the plan (issue #16, DESIGN §8 point 17): for each app action
// that changes the app's definition (app-create, app-update; never scale, restart or delete)
// of service S in environment E, one hook-run action per job of S in E with `hook:
// pre-deploy` or `post-deploy`:
//   - id HookActionId(<chronos name>), target the Chronos name, service, environment, the
//     app action's reason; desired {"hook": "pre-deploy"|"post-deploy", "app": <app id>};
//     token: the digest of the job as it will be when it runs (JobDigest of its body);
//   - a hook depends on its job's own create/update action when the plan has one; the app
//     action depends on its pre-deploy hooks; a post-deploy hook depends on the app action.
// With `skip`, no hook run is planned and the hooks that would have run are returned in
// `skipped` ("<chronos name> (pre-deploy of <app id>)"). Pure.
#pragma once

#include <string>
#include <vector>

#include "engine/plan.h"
#include "engine/planner.h"

namespace galley::engine {

struct HookPlan {
  std::vector<Action> runs;          // pre-deploy runs first, each group in job-name order
  std::vector<std::string> skipped;  // with skip: what would have run
};

// Adds the dependencies to `actions` (app actions gain their pre-deploy hooks) and returns
// the hook runs to add to the plan.
HookPlan PlanHooks(std::vector<Action>& actions, const std::vector<DesiredJob>& jobs, bool skip);

}  // namespace galley::engine
