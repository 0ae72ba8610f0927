// SPDX-License-Identifier: Apache-2.0
// Failed deploys: a change Marathon took whose deployment then failed (not healthy by the
// deadline, cancelled and rolled back, or failed while a later apply followed it) must not
// be redeployed by every periodic apply. The identity of a change is the digest of the
// normalised definition an app action deploys; apply writes it into the journal entry of
// an attempt that failed to deploy ("desired_digest"), so a plan can tell "the identical
// change failed last time" from "a new change" (any edit of the desired state gives a new
// digest).
// Only the newest finished entry of a resource counts: a later success clears a failure.
// Writes refused by Marathon or lost on the way, KV actions, deletes and restarts asked for
// with `galley restart` are never held (nothing broken was deployed, or the user asked).
// Pure functions; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/plan.h"
#include "store/state_store.h"

namespace galley::engine {

// sha256 of the normalised definition an app action deploys; "" for deletes, restarts asked
// for and KV actions.
std::string DesiredDigest(const Action& a);

// The same digest from a journal entry's start detail ({"expect": <normalised body>, ...}),
// for a failure settled by a later apply; "" for a delete, a KV step or a requested restart.
std::string ExpectDigest(const nlohmann::json& start_detail);

// The failed deploy a journal entry records, with the digest of what it deployed; nullopt
// when the entry is not one (succeeded, a write that never took, a delete, a KV step, a
// requested restart, or a detail galley cannot read).
struct FailedDeploy {
  LastFailure failure;
  std::string desired_digest;
};
std::optional<FailedDeploy> FailedDeployOf(const store::JournalEntry& e);

// The state-store resources whose newest journal outcome `AnnotateFailures` needs.
std::vector<std::string> FailureResources(const Plan& plan);

// Sets Action::last_failure on each action whose identical change is the newest outcome of
// its resource in `latest` (StateStore::LatestFinishedJournal) and failed to deploy; clears
// it on the others (a saved plan's annotation is re-checked at apply).
void AnnotateFailures(Plan& plan, const std::map<std::string, store::JournalEntry>& latest);

// What apply refuses without --retry-failed, one line per action:
// "app:/app/production/web: the same change failed at <when> in run N: <why>".
std::vector<std::string> RetryRefusals(const Plan& plan);

// Takes the actions RetryRefusals names (and whatever depends on them) out of `plan`, so the
// rest can be applied; returns RetryRefusals' lines for what was taken out.
std::vector<std::string> HoldFailed(Plan& plan);

}  // namespace galley::engine
