// SPDX-License-Identifier: Apache-2.0
// Chronos jobs as the planner compares them (issue #16, DESIGN §8 point 17;
// shared/reference/chronos-api.md §3 and §3.1). NormalizeJob turns a job body, the one galley
// renders and POSTs or the one Chronos returns, into one comparable form, so a job rendered,
// created and read back compares equal:
//   - only the fields a request carries: the server-maintained counters and times
//     (successCount, errorCount, errorsSinceLastSuccess, lastSuccess, lastError) are dropped,
//     and so are keys Chronos 3.x ignores (epsilon, async) or does not know;
//   - every field Chronos defaults is present with its default (shell true, retries 2,
//     runAsUser "root", cpus/mem/disk 0.1/128/256 when absent or not positive, empty
//     strings and lists, container type DOCKER and network HOST, ...), numbers as doubles for
//     the resources and integers for retries;
//   - `parents` sorted without duplicates (Chronos keeps a set); a body with parents has no
//     schedule (Chronos drops it); `uris` folded into `fetch` (GET /jobs mirrors them);
//     environment variables sorted by name; constraints with unknown operators dropped;
//   - `schedule` in a form Chronos' own rewriting after each run does not change (§3.1 point
//     7: the start moves forward by whole periods and a finite R counts down): an infinite
//     schedule "R/<start>/<period>" keeps the occurrence grid (the start moved to the first
//     occurrence on or after 1970-01-01 for fixed-length periods, to the first after
//     2100-01-01 for periods with months or years); a finite one keeps its last occurrence
//     ("R(last)/<last>/<period>"); one that does not parse is kept as written. Moving a start
//     by whole periods is therefore not a change.
// Server-dependent defaults (--user, --mesos_task_*) are Chronos' own defaults here.
// Pure; thread-safe.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/planner.h"
#include "model/desired_state.h"

namespace galley::engine {

// The comparable form of a Chronos job body (see above). A body that is not an object gives
// an empty object.
nlohmann::json NormalizeJob(const nlohmann::json& body);

// The comparable form of a `schedule` value (see above); exposed for tests.
std::string NormalizeJobSchedule(const std::string& schedule);

// "sha256:<hex>" of NormalizeJob(body)'s canonical JSON: the token a job action is planned
// against ("0" = the job must not exist).
std::string JobDigest(const nlohmann::json& body);

// The plan's action ids: "job:<chronos name>" and "hook:<chronos name>".
std::string JobActionId(const std::string& name);
std::string HookActionId(const std::string& name);

// Every job of every service in every environment of the platform (hook jobs included: they
// exist in Chronos as jobs that never fall due), rendered (render/chronos_job), in platform
// environment order then service then job name. Paused as the service's app is.
std::vector<DesiredJob> DesiredJobs(const model::DesiredState& state);

// Whether a live job is galley's on `platform`: its description is galley's marker.
bool IsGalleyJob(const nlohmann::json& body, const std::string& platform);

// The environment and service a job name "<env>-<service>-<job>" belongs to, among
// `environments` and `services` (the longest that match); empty strings when none does.
std::pair<std::string, std::string> JobOwner(const std::string& name,
                                             const std::vector<std::string>& environments,
                                             const std::set<std::string>& services);

}  // namespace galley::engine
