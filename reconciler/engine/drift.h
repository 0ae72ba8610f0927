// SPDX-License-Identifier: Apache-2.0
// Drift: live objects that differ from what galley last applied (DESIGN §3 "Drift"), kept
// apart from pending changes (Git moved). Pure (no I/O, no clock): it reads the planner's
// input (desired, live, last applied, HMAC key, ignore pointers, policies, scope).
//  - Only what galley applied can drift. An app changed by hand is diffed field by field
//    (normalised applied vs normalised live, the service's ignore pointers removed, as the
//    planner compares); an applied app or key missing live was deleted by hand; a KV value
//    whose HMAC under the platform key differs from the applied HMAC was edited by hand.
//    Secret values are never shown: a secret reads "(secret changed)".
//  - `pending`: Git moved too (desired differs from applied, or no longer declares it); the
//    plan applies Git's version. Where Git already equals live, nothing is reported
//    (`converged`: the next apply records it).
//  - Each item carries its drift policy (revert: apply repairs it; report: apply leaves it
//    and says so); items whose policy is ignore are left out and listed in `ignored`.
//  - When and by what, where the API tells: the live app's versionInfo (lastScalingAt for
//    a scale, lastConfigChangeAt for a config change) and version; a key's ModifyIndex.
//  - LB models galley published (galley/<platform>/haproxy/<instance>): a live document other
//    than the published one is a hand edit, always reverted by apply (kind haproxy_model).
//  - Chronos jobs galley applied (kind chronos_job; only when Chronos was observed): edited or
//    disabled by hand (field diffs of the normalised bodies; change "disabled"/"config") or
//    deleted by hand; their drift policy is the `chronos_job` kind's.
//  - Unmanaged objects under managed prefixes (nobody declares them and galley never
//    applied them, or a declared app without galley's label) are listed apart: never drift
//    (DESIGN §7.11). Of those, prune deletes only apps carrying galley's label (§8.16).
// Values; not synchronised.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/agent_status.h"
#include "engine/diff.h"
#include "engine/planner.h"
#include "model/desired_state.h"

namespace galley::engine {

inline constexpr int kDriftSchemaVersion = 1;

enum class DriftWhat { kChanged, kDeleted, kUnmanaged };
const char* DriftWhatName(DriftWhat w);  // "changed", "deleted", "unmanaged"

struct DriftItem {
  std::string resource;  // the store's key: "marathon-app:/app/production/web",
                         // "consul-kv:app/production/web/LOG_LEVEL"
  model::ResourceKind kind = model::ResourceKind::kMarathonApp;
  std::string target;        // the app id or the key
  std::string env, service;  // empty for platform-wide keys (and orphans of no declared service)
  DriftWhat what = DriftWhat::kChanged;
  // before = what galley applied, after = live. An app's fields are JSON pointers into the
  // normalised body; a key's field is "/value" (masked when it is or was a secret, and
  // "(HMAC only)" on the applied side when the value is not known); a deletion is one
  // field "" (the whole object) with no live side.
  std::vector<FieldChange> fields;
  bool sensitive = false;  // a secret (now or when applied): values never shown
  bool pending = false;    // Git moved too: the plan applies Git's version
  bool paused = false;     // the service or environment is paused: apply leaves it alone
  model::DriftPolicy policy = model::DriftPolicy::kRevert;
  bool prune = false;  // unmanaged items: the next apply deletes it
  std::string why;     // unmanaged items: why galley does not own it
  // When and by what, as far as the API tells (empty / 0 when unknown).
  std::string live_version;           // Marathon app version
  std::string last_scaling_at;        // versionInfo.lastScalingAt
  std::string last_config_change_at;  // versionInfo.lastConfigChangeAt
  std::string change;                 // apps: "scale" (only /instances differs) or "config"
  uint64_t modify_index = 0;          // Consul ModifyIndex of the live key
  // Filled by the caller: when galley applied it, and the store's drift record.
  std::string applied_at, first_seen, last_seen;
};

struct DriftResolved {  // an open drift record that is no longer drift
  std::string resource;
  std::string resolution;  // "reverted", "accepted", "ignored" (the store's vocabulary)
};

struct DriftReport {
  std::string platform, commit, galley_version, checked_at;  // the last three filled by the caller
  std::vector<std::string> environments, targets;            // scope
  std::vector<DriftItem> drift;                              // changed / deleted, by resource
  std::vector<DriftItem> unmanaged;                          // never drift
  std::vector<std::string> ignored;     // drifted, but the policy is ignore (resource keys)
  std::vector<std::string> silenced;    // differs only in fields ignore pointers silence
  std::vector<std::string> converged;   // live differs from applied, but Git already equals live
  std::vector<DriftResolved> resolved;  // filled by the caller
  std::vector<std::string> warnings;
  int observed_apps = 0, observed_keys = 0, requests = 0;
  // The per-host agents (engine/agent_status.h; filled by the caller): failed and missing
  // agents and hand changes are drift too.
  AgentSummary agents;

  bool HasDrift() const { return !drift.empty() || agents.problems() > 0; }
};

DriftReport FindDrift(const PlanInput& in);

// Whether a store resource key falls within `in`'s scope (--env, --target): only those
// open drift records may be resolved by a run with that scope.
bool DriftInScope(const PlanInput& in, const std::string& resource);

// How an open drift record (`fields_json` as stored) that `report` no longer lists was
// settled: "ignored" (a policy or ignore pointer now silences it), "accepted" (live kept
// the drifted values: Git or what galley applied caught up with it), else "reverted".
std::string DriftResolution(const PlanInput& in, const DriftReport& report,
                            const std::string& resource, const std::string& fields_json);

// An item's fields as the store keeps them: [{"path", "applied", "live"}], a side left out
// when absent.
nlohmann::json DriftFieldsJson(const DriftItem& item);

// `galley drift --json` (schema/v1/drift.schema.json).
nlohmann::json DriftToJson(const DriftReport& report);
// Human output in the style of the plan text; colour only when asked (a terminal).
std::string RenderDriftText(const DriftReport& report, bool color);
// For a pull-request or issue comment.
std::string RenderDriftMarkdown(const DriftReport& report);

}  // namespace galley::engine
