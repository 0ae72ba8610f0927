// SPDX-License-Identifier: Apache-2.0
// The checks around an apply that need no target: whether a saved plan went stale, the
// safety rails on disruptive plans, and config digests that could only be computed once the
// platform had an HMAC key. Pure functions of their arguments (secrets through a callback).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/plan.h"
#include "model/live_state.h"

namespace galley::engine {

// How the app an action was planned against has moved since: the one rule for a stale
// saved plan and for the executor's check before each Marathon write. A version that moved
// while the definition did not (a restart) is not a move. `live` is null when the app is absent.
enum class AppMove { kNone, kCreated, kDeleted, kChanged };
AppMove HowAppMoved(const Action& a, const model::LiveApp* live);

// Why a saved plan can no longer be applied: every token that moved ("app /x: planned
// against version A, now B"; "key k: planned when absent, now exists (index 7)").
std::vector<std::string> StaleReasons(const Plan& plan, const model::LiveState& live);

// DESIGN §7.12: deletes plus restarts of more than max(limit, fraction × apps) in one
// environment need --allow-large. `apps_per_env` counts the live apps of each environment.
std::vector<std::string> SafetyViolations(const Plan& plan,
                                          const std::map<std::string, int>& apps_per_env,
                                          int limit = 10, double fraction = 0.25);

// Fills in the galley.config-digest label of apps planned before the platform had an HMAC
// key ("(known after apply)"), from each action's `config` (secrets read with
// `read_secret`). Fails naming the app, or the secret that cannot be read.
Status ResolveConfigDigests(
    Plan& plan, const std::string& hmac_key,
    const std::function<Result<std::string>(const std::string&)>& read_secret);

}  // namespace galley::engine
