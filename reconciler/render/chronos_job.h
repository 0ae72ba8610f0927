// SPDX-License-Identifier: Apache-2.0
// Renders one job of a service in one environment as the Chronos job body galley sends
// (issue #16, DESIGN §8 point 17; shared/reference/chronos-api.md §3). Pure and deterministic:
// same input, byte-identical output. The body:
//   - name "<env>-<service>-<job>"; galley's ownership marker in `description` (ownership
//     works as for apps) and "galley" in `ownerName`; `owner` is the job's e-mail list;
//   - a scheduled job carries `schedule` (+ `scheduleTimeZone`, `epsilon`) and is POSTed to
//     /iso8601; a dependent job carries `parents` (Chronos names, sorted) and goes to
//     /dependency; never both. A hook job (pre-/post-deploy) is a scheduled job that never
//     falls due (kHookSchedule): galley starts it itself (PUT /job/<name>), and an infinite
//     R keeps Chronos from disabling it after a run (R0 would);
//   - what runs: the service's image at the environment's tag (or the job's `image`), in a
//     DOCKER container like the apps, and the command: the wrapper with the service's KV
//     prefix (unless `config: false`) then the job's command (default: the service's), as one
//     shell-quoted string with shell: true (Chronos' `arguments` are unreliable, §6 item 12);
//   - environment: SERVICE_NAME, GALLEY_JOB, then the job's `env`, sorted by name;
//   - retries, disabled, cpus/mem(/disk) from the job, else the environment's, else the
//     service's resources.
// Only keys galley decides are sent; Chronos fills the rest with its defaults.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/desired_state.h"

namespace galley::render {

// The description every galley job carries: "managed-by: galley; platform=<p>".
std::string ChronosJobMarker(const std::string& platform);
inline constexpr char kChronosOwnerName[] = "galley";
// A start no clock reaches: Chronos never runs the job on its own.
inline constexpr char kHookSchedule[] = "R/2999-12-31T00:00:00.000Z/P1Y";

// A parent as written in the service file ("job" or "service/job") as Chronos' name.
std::string ChronosParentName(const std::string& env, const std::string& service,
                              const std::string& parent);

// POSIX shell quoting of one word: as is when it has only [A-Za-z0-9_./:=,@%+-], else in
// single quotes (a ' inside becomes '\'').
std::string ShellQuote(const std::string& word);

// REQUIRES: env is one of s.environments and job.environments has env.name.
nlohmann::ordered_json RenderChronosJob(const model::Platform& p, const model::Service& s,
                                        const model::ServiceEnvironment& env,
                                        const model::Job& job);

}  // namespace galley::render
