// SPDX-License-Identifier: Apache-2.0
// The reconcile workflow: one apply of the desired state (or of a saved plan) to the
// platform, from the lock to the recorded run. `galley apply` and `galley restart` are thin
// shells over it, and `galley serve` (DESIGN §8.15) runs the same workflow.
//
//   begin the run → take the platform lock (not for a dry run) → observe → settle what a
//   killed apply left "started" (observe again if it settled anything) → plan (or check a
//   saved plan against live state and the store: stale) → show the plan → the platform's
//   HMAC key (created on the first apply) and the config digests → secrets readable →
//   changes that failed to deploy last time held back → safety rails (DESIGN §7.12) →
//   confirm → check again that nothing moved while the plan waited → execute
//   (engine/apply.h) → mark the plan applied → resolve reverted drift → finish the run (the
//   store and the platform's history in Consul) → release the lock.
//
// It never prints, reads a terminal or exits: whatever a person must see arrives as events
// (engine/events.h; workflow events are kPhase, kRecovered and kWarning, with `line` the
// sentence the CLI prints), the decisions that need someone go through callbacks (`confirm`),
// and the end is a typed ReconcileResult the caller turns into an exit code or an API answer.
// Where the desired state and the observation come from is the caller's (ReconcileSource):
// the CLI loads a working tree, a server a commit.
//
// Not thread-safe: one Reconcile per call; the callbacks and the source are called from the
// calling thread, the event sink also from the executor's workers (one call at a time).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "clients/consul_client.h"
#include "clients/marathon_client.h"
#include "engine/apply.h"
#include "engine/apply_lock.h"
#include "engine/events.h"
#include "engine/plan.h"
#include "engine/planner.h"
#include "model/desired_state.h"
#include "model/live_state.h"
#include "store/state_store.h"

namespace galley::engine {

// What the workflow itself reads of one observation of the platform.
struct Observation {
  model::LiveState live;  // under the managed prefixes, galley's own keys removed
  // galley's applied records in Consul (galley/<platform>/applied/...): key → JSON text.
  std::map<std::string, std::string> applied_records;
  std::vector<std::string> warnings;  // shown, never fatal
  std::string hmac_key;               // the platform's key; "" when it has none yet
};

// Where the desired state and the observations come from: whoever loaded the repository
// (cli/pipeline's workspace; a server's checkout of a commit). Called from the workflow's
// thread only.
class ReconcileSource {
 public:
  virtual ~ReconcileSource() = default;
  // One observation of the platform. The workflow observes once the lock is held, again
  // after settling an interrupted apply, and again after a confirmation.
  virtual Result<Observation> Observe() = 0;
  // The planner's input against the latest observation, which the workflow hands back
  // (consumed). `compare_key`: the key HMACs are compared under; `durable`: whether it is
  // the platform's real key (else a throwaway one: the platform has none yet).
  virtual PlanInput PlanInputFor(Observation&& latest, const std::string& compare_key,
                                 bool durable) = 0;
  // Fills in what the plan records about where it comes from (commit, tree, endpoints,
  // digests of the desired state `in` holds).
  virtual void DescribePlan(const PlanInput& in, Plan* plan) = 0;
};

struct ReconcileRequest {
  // The platform: its name, environments and history retention (the lock, the records, the
  // platform's apply history in Consul).
  model::Platform platform;
  // The commit recorded for the run: the repository's, or the saved plan's claim.
  std::string commit;
  // Who started the run and from where, and this host ("user@host").
  store::RunOrigin origin;
  std::string host;
  std::string trigger = "cli";  // the run's trigger in the store: "cli", "serve", ...

  // A saved plan (`galley apply PLANFILE`), already verified by its signature: applied
  // whole or not at all, not planned again and not confirmed. `saved_plan_name` names it
  // in messages ("the plan in <name> is stale").
  std::optional<Plan> saved_plan;
  std::string saved_plan_name;
  // `galley restart SERVICE`: engine::MakeRestartPlan instead of the planner.
  std::string restart_service;

  bool dry_run = false;       // DryRunTarget: nothing sent, nothing recorded, no lock
  bool allow_large = false;   // past the safety rails (SafetyViolations)
  bool retry_failed = false;  // apply changes that failed to deploy last time

  // The lock's holder name and --lock-timeout (`platform` is filled in from `platform`);
  // the clock seams are for tests.
  LockOptions lock;
  // concurrency, deadline, force, rollback, read_secret, clock; `interrupted`,
  // `events`, `should_stop` and `before_write` are the workflow's.
  ApplyOptions apply;
};

// The world the workflow acts on. Everything must outlive the call.
struct ReconcileDeps {
  ReconcileSource* source = nullptr;
  clients::MarathonClient* marathon = nullptr;
  clients::ConsulClient* consul = nullptr;
  // Chronos (issue #16); null: none configured, and every job call is refused.
  clients::ChronosClient* chronos = nullptr;
  // The lock's own Consul client (no retries, a timeout under TTL/3, so a stuck renewal
  // shows as a lost lock in time); null: `consul`.
  clients::ConsulClient* lock_consul = nullptr;
  store::StateStore* store = nullptr;
  // Where the effects go; null: NewClientTarget over `marathon`, `consul` and `chronos` (a dry run
  // always uses a DryRunTarget).
  ApplyTarget* target = nullptr;
  // The plan as made (or the saved plan as checked), before anything is decided about it:
  // the CLI prints it. May be empty.
  std::function<void(const Plan&)> show_plan;
  // Asked once the plan passed every check, unless it is a dry run or a saved plan: true
  // applies. Empty: approved (--auto-approve).
  std::function<bool(const Plan&)> confirm;
  // Progress; may be null.
  ApplyEventSink* events = nullptr;
  // SIGINT/SIGTERM: nothing new starts, deployments are no longer waited for, the run ends
  // "interrupted". May be empty.
  std::function<bool()> interrupted;
  // The image preflight (engine/image_preflight.h): adds an error per missing image to the
  // plan (made or saved) before anything is written; a failure stops the run. May be empty.
  std::function<Status(Plan&)> check_images;
};

enum class ReconcileOutcome {
  kNothingToDo,   // the plan had no actions
  kApplied,       // every action applied (or, dry run, would be); see `held_back`
  kIncomplete,    // executed, but something failed, was not attempted or was interrupted
  kFailed,        // an error stopped the run (`message`)
  kLockHeld,      // another apply holds the platform lock (`message` names it)
  kStalePlan,     // a saved plan is stale, or the platform moved while the plan waited
  kHeldBack,      // nothing applied: every change (or the saved plan) failed to deploy before
  kTooLarge,      // refused by the safety rails without allow_large
  kNotConfirmed,  // `confirm` said no
};
const char* ReconcileOutcomeName(ReconcileOutcome o);  // "nothing-to-do", "applied", ...

struct ReconcileResult {
  ReconcileOutcome outcome = ReconcileOutcome::kFailed;
  // Why the run stopped (kFailed, kLockHeld, kStalePlan, kTooLarge): one sentence, maybe
  // followed by indented lines.
  std::string message;
  Plan plan;                           // as applied (held-back actions taken out)
  std::optional<ApplyResult> applied;  // when it executed
  // The run's summary as recorded in the store (ApplyResult::ToJson plus digest, dry_run,
  // recovered, restart, retry_refused).
  nlohmann::json summary;
  // Changes not retried because the same change failed to deploy last time, one line each.
  std::vector<std::string> held_back;
  int recovered = 0;  // journal entries of interrupted runs settled first
  int64_t run_id = 0;
};

// Runs the workflow. Never throws for what the platform or the store answer.
ReconcileResult Reconcile(const ReconcileRequest& request, const ReconcileDeps& deps);

// Creates the platform's HMAC key in Consul with cas=0 (two runs racing agree on whichever
// was written first) and returns the key that is there.
Result<std::string> CreateHmacKey(clients::ConsulClient& consul, const model::Platform& platform);

// Marks each action whose identical change failed to deploy last time (Action::last_failure,
// engine/failed_deploys.h), from the store's journal.
Status AnnotateFailures(store::StateStore& store, Plan& plan);

// Live apps per environment, for the environments `plan` acts on (SafetyViolations' input).
std::map<std::string, int> AppsPerEnvironment(const Plan& plan, const model::LiveState& live);

}  // namespace galley::engine
