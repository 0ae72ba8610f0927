// SPDX-License-Identifier: Apache-2.0
// Plan: what galley would change and why, as data. Each action carries its reason, the
// field-level changes (normalised live → desired), the token it was planned against (the
// app's Marathon version or the key's Consul ModifyIndex; "0" = must not exist), the
// actions it depends on, and the exact body to send. A plan file is self-contained (DESIGN
// §7.6): rendered desired objects, tokens, commit, galley and schema versions — and never a
// secret value (secrets are carried as their source and HMAC). Values; not synchronised.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "engine/diff.h"
#include "engine/resource_key.h"

namespace galley::engine {

inline constexpr int kPlanSchemaVersion = 1;

enum class ActionKind {
  kAppCreate,
  kAppUpdate,
  kAppScale,
  kAppRestart,
  kAppDelete,
  kKvPut,
  kKvDelete,
  // An HAProxy instance's LB model at galley/<platform>/haproxy/<instance> (engine/lb_models.h):
  // written like a KV key (cas on its ModifyIndex), planned with JSON field diffs.
  kModelCreate,
  kModelUpdate,
  kModelDelete,
  // A Chronos job (issue #16, DESIGN §8 point 17), target = its Chronos name
  // (<env>-<service>-<job>): created or replaced by POST to /iso8601 or /dependency (by the
  // body), deleted by DELETE /v1/scheduler/job/<name>. Token: the sha256 of the live job's
  // normalised body the plan saw ("0" = must not exist).
  kJobCreate,
  kJobUpdate,
  kJobDelete,
  // A pre- or post-deploy hook: one run of an existing job (target = its Chronos name),
  // started and followed to success or failure within a deadline; planned only when the app
  // it belongs to changes definition (create/update), ordered pre-hook → app → post-hook.
  kHookRun
};
// kRequested: a restart asked for by `galley restart` (nothing differs).
enum class Reason { kNew, kDesiredChanged, kDrifted, kOrphan, kRequested };

// "app-create", ..., "haproxy-model-create", "job-create", "job-update", "job-delete", "hook-run"
const char* ActionKindName(ActionKind k);
const char* ReasonName(Reason r);  // "new", "desired-changed", "drifted", "orphan", "requested"
// An LB model action (written to Consul KV like a key).
inline bool IsModelAction(ActionKind k) {
  return k == ActionKind::kModelCreate || k == ActionKind::kModelUpdate ||
         k == ActionKind::kModelDelete;
}
// A Chronos job write (not a hook run).
inline bool IsJobAction(ActionKind k) {
  return k == ActionKind::kJobCreate || k == ActionKind::kJobUpdate || k == ActionKind::kJobDelete;
}
inline bool IsHookAction(ActionKind k) { return k == ActionKind::kHookRun; }
// A Marathon app action (else a Consul KV write: a key or an LB model; or a Chronos job or
// hook run).
inline bool IsAppAction(ActionKind k) {
  return k != ActionKind::kKvPut && k != ActionKind::kKvDelete && !IsModelAction(k) &&
         !IsJobAction(k) && !IsHookAction(k);
}
// The HAProxy instance of an LB model key (galley/<platform>/haproxy/<instance>): its last
// segment.
inline std::string ModelInstanceOf(const std::string& key) {
  auto slash = key.rfind('/');
  return slash == std::string::npos ? key : key.substr(slash + 1);
}

// The last attempt at the very change an action makes (the same desired definition) was
// taken by Marathon and then failed to deploy (deadline, unhealthy): apply does not retry it
// without --retry-failed (engine/failed_deploys.h).
struct LastFailure {
  int64_t run_id = 0;
  std::string at;     // when it failed, ISO-8601 UTC
  std::string error;  // why
};

struct Action {
  std::string id;  // "app:/app/production/web", "kv:app/production/web/LOG_LEVEL"
  ActionKind kind = ActionKind::kAppCreate;
  Reason reason = Reason::kNew;
  std::string service;  // empty for platform-wide keys
  std::string env;
  std::string target;  // the app id or KV key (an LB model's key for model actions)
  std::vector<FieldChange> changes;
  std::string token;  // app version / ModifyIndex the action was planned against
  std::vector<std::string> depends_on;
  nlohmann::json desired;  // app: the body to send; kv: {"value": "..."} or {"secret":
                           // "env:VAR"|"file:/p", "hmac": ...}; LB model: {"value":
                           // <document text>, "digest": "sha256:..."}
  // App whose galley.config-digest label is "(known after apply)" (no platform HMAC key
  // yet): the config the digest is made of, {"KEY": {"value": ...} | {"secret": "env:VAR"}};
  // apply computes the label from it. Null otherwise.
  nlohmann::json config;
  // App actions against a live app: sha256 of the live definition (normalised) the plan saw,
  // so a version that moved without the definition changing (a restart, e.g. by a wrapper
  // that restarts on KV changes) is not taken for a hand change. "" otherwise.
  std::string live_digest;
  // When drift the policy keeps rides along with Git's change: what galley records as
  // applied (the normalised body with the kept fields at their last-applied values), so the
  // drift is still drift next time. Null: the normalised `desired`.
  nlohmann::json record;
  bool sensitive = false;  // a secret: values are never printed
  std::vector<std::string> notes;
  std::optional<LastFailure> last_failure;
};

struct PlanItem {  // an unmanaged object, a drift reported but not reverted, a paused skip
  std::string target;
  std::string why;
};

struct Plan {
  std::string platform;
  std::string commit;  // "-dirty" appended when planned from a work tree with changes
  // The Git tree of DIR at `commit` (what the repository holds, whatever the commit id: a
  // merge commit of the same content has the same tree); "" outside Git or when dirty.
  std::string tree;
  bool dirty = false;  // planned from a work tree with uncommitted changes under DIR
  // The endpoints the plan was made against (URLs only, never credentials): `apply
  // PLANFILE` uses them when no flag, variable or DIR's galley.yaml names others.
  std::vector<std::string> marathon_urls;
  std::string consul_url;
  std::string chronos_url;  // "" = no Chronos configured (jobs not planned)
  // The desired state the plan was made from: "<env>/<service>" (and "(platform)") → sha256
  // (engine::DesiredDigests); `apply PLANFILE DIR` re-renders DIR and compares.
  std::map<std::string, std::string> desired_digests;
  // The plan file's signature (SignPlanDocument); null when unsigned. Not part of the digest.
  nlohmann::json signature;
  std::string galley_version;
  int schema_version = kPlanSchemaVersion;
  std::string created_at;
  std::vector<std::string> environments;  // in scope
  std::vector<std::string> targets;       // --target services; empty = all
  std::vector<Action> actions;            // in dependency order
  std::vector<PlanItem> unmanaged;
  std::vector<PlanItem> drift_reported;  // drift the policy says to report, not revert
  std::vector<PlanItem> skipped;         // paused services / environments
  std::vector<std::string> warnings;
  // What forbids planning at all (a declared service whose live app is not galley's): plan
  // and apply stop with exit 1 naming each. A plan with errors is never saved or applied.
  std::vector<std::string> errors;
  int observed_apps = 0, observed_keys = 0, requests = 0;
  int observed_jobs = 0;  // Chronos jobs listed (0 when no Chronos is configured)

  bool HasChanges() const { return !actions.empty(); }
};

// The state store's key of the object an action changes: "marathon-app:<id>",
// "consul-kv:<key>", "haproxy-model:<instance>" or "chronos-job:<name>" (a hook run: the
// job it runs).
inline std::string ResourceKeyOf(const Action& a) {
  if (IsJobAction(a.kind) || IsHookAction(a.kind))
    return ResourceKey(model::ResourceKind::kChronosJob, a.target);
  if (IsModelAction(a.kind))
    return ResourceKey(model::ResourceKind::kHaproxyModel, ModelInstanceOf(a.target));
  return ResourceKey(
      IsAppAction(a.kind) ? model::ResourceKind::kMarathonApp : model::ResourceKind::kConsulKv,
      a.target);
}

nlohmann::json PlanToJson(const Plan& plan);
Result<Plan> PlanFromJson(const nlohmann::json& doc);
// sha256 of the plan's canonical JSON: the identity under which it is saved and applied once.
// Neither the time it was made nor its signature is part of it.
std::string PlanDigest(const Plan& plan);

// Plan files are signed (issue #10): an edited plan must not be applied. The signature is
// HMAC-SHA256 under a key derived from the platform's HMAC key, over the canonical JSON of
// the document without its "signature" member; one HMAC per top-level member and per
// action rides along so a refusal names what was changed. `key_source` says where the key
// came from ("GALLEY_HMAC_KEY", "consul:galley/<platform>/hmac-key"), for messages.
nlohmann::json SignPlanDocument(const nlohmann::json& doc, const std::string& platform_key);
// Ok when `doc` carries a signature made with `platform_key` over exactly its content;
// else kPermissionDenied saying what does not match (unsigned, another key, which members
// or actions were changed).
Status VerifyPlanDocument(const nlohmann::json& doc, const std::string& platform_key,
                          const std::string& key_source);

// Human output in the style of `terraform plan`; colour only when asked (a terminal).
std::string RenderPlanText(const Plan& plan, bool color);
// For a pull-request comment.
std::string RenderPlanMarkdown(const Plan& plan);

}  // namespace galley::engine
