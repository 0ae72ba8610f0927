// SPDX-License-Identifier: Apache-2.0
// Internal to the executor and crash recovery (engine/executor.cc, engine/recovery.cc): the
// steps that act on Chronos (issue #16, DESIGN §8 point 17). Each job action and each hook
// action is one step of its own.
//  - Job write (job-create/-update/-delete): the live job is read just before the write and
//    its JobDigest compared with the action's token ("0" = must not exist): a job changed,
//    created or deleted by hand since the plan is a conflict, never overwritten. Then one
//    POST (/iso8601 or /dependency, by the body) or DELETE; a delete of a job already gone
//    succeeds. A written job is then looked up until Chronos shows it (3.x persists first and
//    loads the job into its graph a moment later; a dependent job whose parents are missing
//    never shows). Success is recorded like an app (store row chronos-job:<name>, member
//    "jobs" of the service's record in Consul).
//  - Hook run (hook-run): the job's counts and last outcomes are read (the baseline, also
//    journaled), the live job checked against the action's token (a job edited by hand since
//    the plan is not run: a conflict), one manual run is started (PUT /v1/scheduler/job/<name>),
//    and the job is read until an outcome newer than the baseline shows: a success (successCount up
//    or a new lastSuccess) or a failure (errorCount up or a new lastError; Chronos counts a failure
//    only after its retries). Within ApplyOptions::hook_deadline; a failure or the deadline fails
//    the step with a detail naming the job, its error count and last error, and where its output
//    is. With ApplyOptions::skip_hooks the job is not started: the step is skipped (journaled
//    "skipped") and what depends on it goes on.
//  - Recovery: an interrupted job write is settled against the live job (its digest is what
//    the write meant → succeeded and recorded; else failed); an interrupted hook by the
//    job's outcome since the journaled baseline, and as failed when there is none yet (the
//    app it gates was not deployed; the next plan runs the hook again).
// Thread-safe as the executor uses it: one step per call, state only in the arguments.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "clients/chronos_client.h"
#include "engine/apply.h"
#include "engine/follower.h"
#include "engine/recorder.h"
#include "store/state_store.h"

namespace galley::engine {

// What a job step needs of the executor.
struct JobStepContext {
  ApplyTarget& target;
  const ApplyOptions& o;  // with defaults (WithDefaults)
  EventReporter& events;
  Recorder& recorder;
  // Asked before every write (the platform lock; engine/apply.h before_write): an error
  // means nothing is sent.
  std::function<Status()> may_write;
  // SIGINT/SIGTERM or a lost lock: a hook being waited for is left open for the next apply.
  std::function<bool()> stopping;
};

struct JobStepOutcome {
  StepState state = StepState::kNotAttempted;
  std::string detail;
  double seconds = 0;
  // A hook left out by --skip-hooks: not run, yet its dependants go on.
  bool skipped = false;
  bool ok() const { return state == StepState::kApplied || skipped; }
};

JobStepOutcome RunJobWrite(const Action& a, JobStepContext& ctx);
JobStepOutcome RunHook(const Action& a, JobStepContext& ctx);

// Where a job's runs are, compared with a baseline read before one was started.
enum class RunOutcome { kPending, kSucceeded, kFailed };
RunOutcome OutcomeSince(const clients::ChronosJobStats& before,
                        const clients::ChronosJobStats& now);

// The journaled form of a baseline, and back (missing members read as zero / "").
nlohmann::json StatsToJson(const clients::ChronosJobStats& s);
clients::ChronosJobStats StatsFromJson(const nlohmann::json& j);

// Settles one journal entry of a job write or a hook run that a killed apply left
// "started" (see above) and returns the line saying how.
Result<std::string> SettleJobEntry(const store::JournalEntry& entry, const nlohmann::json& detail,
                                   ApplyTarget& target, Recorder& recorder,
                                   store::StateStore& store);

}  // namespace galley::engine
