// SPDX-License-Identifier: Apache-2.0
// The planner: desired + observed + last applied → a Plan. Pure (no I/O, no clock).
//  - Apps and keys are matched by id/key; both sides are normalised (normalize.h) and the
//    service's ignore pointers removed before comparing, so an untouched app never diffs.
//  - Reason: nothing live → new (or drifted when galley had applied it: deleted by hand);
//    live differs and nothing was ever applied → desired-changed (pending, never drift);
//    desired differs from what was applied → desired-changed (a note says when live drifted
//    too); desired equals what was applied but live differs → drifted.
//  - Kind: only /instances differs → scale; only the galley.config-digest label (and maybe
//    instances) → restart (a rolling one: Marathon replaces tasks per upgradeStrategy);
//    anything else → update.
//  - Ownership (DESIGN §8.16): galley owns an app that carries its platform label or that it
//    applied (a record in Consul or the store), and a key that it applied. Under the managed
//    prefixes, undeclared objects galley owns are deleted only when prune is on for them (an
//    explicit plan line; "removed from Git" when galley applied them); otherwise listed.
//    Objects galley does not own are listed as unmanaged and never deleted, whatever the
//    prune setting. A declared app that exists live but is not galley's is a plan error
//    (adopt it first): never taken over, never a silent "No changes". Environments the
//    platform file no longer declares but galley applied to (`removed_environments`) are
//    in scope like declared ones. Paused services and environments are skipped and listed,
//    their orphans included (whatever the prune policy). An object's environment is the
//    managed prefix it is under, whatever the shape of the rest of its id.
//  - Policy (drift and prune) is resolved per object by model::Policies::Resolve from its
//    kind (Marathon app or Consul KV), environment and service: service+environment, then
//    service, then the platform's environment, then the platform; a kind's setting beats the
//    general one at the same level. An orphan's service is the segment after the managed
//    prefix when that names a declared service, else none (environment and platform levels
//    only); platform-wide keys (service/haproxy/maxconn) have neither service nor
//    environment. Drift "revert" keeps the action, "report" lists the drift in
//    drift_reported instead, "ignore" drops it; prune decides whether an orphan becomes a
//    delete or is listed as unmanaged.
//  - LB models (one per declared HAProxy instance, platform-wide: only an untargeted plan
//    has them) compare as JSON documents: create when absent, update when the live
//    document differs (field diffs without the "digest" member), delete when the instance is
//    no longer declared. Galley wrote every key under the prefix, so each is galley's; drift
//    (a hand edit: the live document differs while Git still says what galley published) is
//    always reverted, whatever the policies.
//  - KV values compare as text; secrets compare as HMACs only. A secret whose source is not
//    available (a pull request from a fork) is compared with the HMAC last applied.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/lb_models.h"
#include "engine/plan.h"
#include "model/desired_state.h"
#include "model/live_state.h"

namespace galley::engine {

struct DesiredApp {
  std::string service, env, id;
  nlohmann::json body;              // rendered, including galley's labels
  std::vector<std::string> ignore;  // JSON pointers whose drift is tolerated
  bool paused = false;
  // When the config digest is not known yet (the platform has no HMAC key): the service's
  // config for this environment, {"KEY": {"value": "..."} | {"secret": "env:VAR"}}, so
  // apply can compute the digest. Null otherwise.
  nlohmann::json config;
};

struct DesiredKv {
  std::string service, env, key;     // service/env empty for platform-wide keys
  std::optional<std::string> value;  // literal, or the secret's value when available
  bool secret = false;
  std::string secret_source;  // "env:PROD_DATABASE_URL" / "file:/run/secrets/x"
  bool paused = false;
};

// A Chronos job of a service in one environment (issue #16): the body galley POSTs
// (render/chronos_job), its parents' Chronos names and, for a hook, when it runs.
struct DesiredJob {
  std::string service, env;
  std::string name;  // the Chronos name, <env>-<service>-<job>
  std::string job;   // the job's name in the service file
  nlohmann::json body;
  std::vector<std::string> parents;  // Chronos names, sorted
  std::string hook;                  // "", "pre-deploy" or "post-deploy"
  bool paused = false;
};

struct PlanInput {
  std::string platform;
  std::vector<std::string> environments;      // in scope, platform-file order
  std::set<std::string> targets;              // services; empty = all
  std::vector<std::string> app_prefixes;      // "/app/production/"
  std::vector<std::string> kv_prefixes;       // "app/production/"
  std::set<std::string> kv_exact_keys;        // platform-wide owned keys (service/haproxy/maxconn)
  std::set<std::string> declared_services;    // every service in the repository
  std::set<std::string> paused_environments;  // nothing under them is touched, orphans included
  // Environments galley applied to that the platform file no longer declares (their
  // prefixes are in app_prefixes / kv_prefixes, their names in `environments`).
  std::set<std::string> removed_environments;
  std::vector<DesiredApp> apps;
  std::vector<DesiredKv> kv;
  model::LiveState live;
  std::map<std::string, nlohmann::json> applied_apps;  // app id → normalised body last applied
  // key → HMAC of the value last applied; "secret:<HMAC>" when the value was a secret (so a
  // key that turns from secret into a literal never prints the old value).
  std::map<std::string, std::string> applied_kv;
  std::string hmac_key;
  // False when the platform has no key yet (nothing applied): HMACs computed with hmac_key
  // are then only good for comparing within this plan and are left out of the plan file.
  bool hmac_key_durable = true;
  model::Policies policies;  // drift and prune per kind / environment / service
  // LB models (engine/lb_models.h): the declared instances' documents; the live ones are in
  // live.kv under model_prefix (galley/<platform>/haproxy/; "" = no models planned at all);
  // applied_models: instance → the digest galley last published.
  std::vector<DesiredModel> models;
  std::string model_prefix;
  std::map<std::string, std::string> applied_models;
  // Chronos jobs (issue #16): planned only when `chronos` (an endpoint is configured and
  // live.jobs was observed); the live jobs are live.jobs; applied_jobs: name → the
  // normalised body galley last applied. galley's jobs carry render::ChronosJobMarker in
  // their description.
  std::vector<DesiredJob> jobs;
  bool chronos = false;
  std::map<std::string, nlohmann::json> applied_jobs;
  // --skip-hooks: no hook runs are planned (a warning names the hooks skipped).
  bool skip_hooks = false;
};

Plan MakePlan(const PlanInput& input);

// "the plan has N error(s); nothing planned:" and one indented line per error of `plan`.
std::string PlanErrorsMessage(const Plan& plan);

}  // namespace galley::engine
