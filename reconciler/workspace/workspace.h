// SPDX-License-Identifier: Apache-2.0
// What `cli/` (plan, apply, drift, status) and `server/` (galley serve) share: the options that
// say which repository and platform to talk to, loading and validating the repository (or a
// committed revision of it), the clients and the state store, and one observation of the
// platform merged with what galley last applied. The composition roots' plumbing; every
// decision is in engine/. Not thread-safe: a Workspace is used by one thread at a time.
#pragma once

#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/diagnostics.h"
#include "base/status.h"
#include "clients/chronos_client.h"
#include "clients/consul_client.h"
#include "clients/endpoints.h"
#include "clients/marathon_client.h"
#include "engine/agent_status.h"
#include "engine/planner.h"
#include "engine/reconcile.h"
#include "model/desired_state.h"
#include "model/live_state.h"
#include "net/http_client.h"
#include "store/state_store.h"

namespace galley::workspace {

// The options plan, apply and drift share.
struct TargetOptions {
  std::string dir = ".";
  std::string state, rev;
  std::vector<std::string> envs, targets, marathon;
  std::string consul;
  std::string chronos;      // --chronos (issue #16)
  bool skip_hooks = false;  // --skip-hooks (plan, apply): no hook runs planned
};

// The errors of `diags` and their count, without the warnings (which are for validate, plan
// and apply of a repository).
std::string ErrorsOnly(const Diagnostics& diags);

// "user@host".
std::string Who(const std::map<std::string, std::string>& env);
// Who started this run and from where: the CI system's actor, run URL and commit, else
// user@host (engine::RunOriginOf).
store::RunOrigin Origin(const std::map<std::string, std::string>& env);
// The store's retention from galley.yaml's `history:` (defaults when it has none).
store::Retention RetentionOf(const model::HistoryRetention& history);
// The Git commit DIR is at ("-dirty" appended when the work tree under DIR has changes), or
// REV's commit; "" when DIR is not in a Git work tree.
std::string GitCommit(const std::string& dir, const std::string& rev);
// The Git tree DIR has at REV (HEAD when empty): the same for a merge commit that changed
// nothing under DIR. "" when DIR is not in a Git work tree.
std::string GitTree(const std::string& dir, const std::string& rev);

// Everything a command that talks to the platform needs, opened once.
struct Workspace {
  std::map<std::string, std::string> env;
  std::string commit;
  std::string tree;    // GitTree of what was loaded; "" when dirty or outside Git
  bool dirty = false;  // loaded from a work tree with uncommitted changes
  model::DesiredState state;
  std::vector<std::string> environments;  // in scope (--env), platform-file order
  clients::Endpoints endpoints;
  std::unique_ptr<net::HttpClient> marathon_http, consul_http;
  std::unique_ptr<clients::MarathonClient> marathon;
  std::unique_ptr<clients::ConsulClient> consul;
  // Chronos (issue #16): null when no endpoint is configured (endpoints.chronos.url "").
  std::unique_ptr<net::HttpClient> chronos_http;
  std::unique_ptr<clients::ChronosClient> chronos;
  std::unique_ptr<store::StateStore> store;
  std::string state_path;
};

// Loads and validates the repository (errors go to err; warnings too with `show_warnings`,
// for the commands that act on the desired state: plan and apply, not drift or lock),
// checks --env/--target names, resolves the endpoints and opens the store (marking crashed
// runs interrupted). nullptr after printing "galley <command>: ..." on failure.
std::unique_ptr<Workspace> OpenWorkspace(const TargetOptions& o, const char* command,
                                         std::ostream& err, bool show_warnings = false);

// Opens only the clients and the store (for `apply PLANFILE`, which needs no repository):
// endpoints from flags, environment and, when given, the platform file's defaults.
// `saved_plan`: the endpoints of a saved plan, used after everything else (EndpointFlags).
std::unique_ptr<Workspace> OpenConnections(const TargetOptions& o, const model::Platform* platform,
                                           const char* command, std::ostream& err,
                                           const clients::EndpointFlags& saved_plan = {});

// Creates the platform's HMAC key in Consul with cas=0 (two runs racing agree on whichever
// was written first) and returns the key that is there.
Result<std::string> CreateHmacKey(Workspace& ws);

// Fills in what a plan records about where it comes from: commit, tree, dirty, galley's
// version, the endpoints (URLs only) and the digests of the desired state `in` holds.
void DescribePlan(const Workspace& ws, const engine::PlanInput& in, engine::Plan* plan);
// The same with the desired digests already made (engine::DesiredDigests of the same input).
void DescribePlan(const Workspace& ws, engine::Plan* plan,
                  std::map<std::string, std::string> desired_digests);

// A run recorded in the store for one command (`kind`: plan, apply, drift): begun with the
// workspace's commit and who, finished once. Fail() records the message, prints
// "galley <kind>: <message>" and returns kExitError.
class RecordedRun {
 public:
  // nullopt after printing the store's error.
  static std::optional<RecordedRun> Begin(Workspace& ws, const std::string& kind,
                                          std::ostream& err);
  int64_t id() const { return id_; }
  void Finish(const std::string& outcome, const std::string& summary_json);
  int Fail(const std::string& message);

 private:
  RecordedRun(Workspace& ws, std::string kind, int64_t id, std::ostream& err)
      : ws_(&ws), kind_(std::move(kind)), id_(id), err_(&err) {}
  Workspace* ws_;
  std::string kind_;
  int64_t id_;
  std::ostream* err_;
};

// One observation of the platform under the managed prefixes, with what galley last applied
// (the store brought up to date from the records in Consul).
struct Observed {
  model::LiveState live;                               // galley's own keys (galley/...) removed
  std::map<std::string, nlohmann::json> applied_apps;  // app id → normalised body
  std::map<std::string, std::string> applied_kv;       // key → HMAC or "secret:HMAC"
  std::map<std::string, std::string> applied_models;   // HAProxy instance → model digest
  std::map<std::string, nlohmann::json> applied_jobs;  // Chronos name → normalised body
  // "app:<id>" / "kv:<key>" / "haproxy-model:<instance>" / "job:<name>" → time
  std::map<std::string, std::string> applied_at;
  // The records galley keeps in Consul, by key (galley/<platform>/applied/<env>/<service>).
  std::map<std::string, model::LiveKvEntry> applied_records;
  std::vector<std::string> warnings;
  std::string hmac_key;  // GALLEY_HMAC_KEY, else the platform's key in Consul; "" when none
  bool hmac_key_in_consul = false;
  // Environments galley applied to that the platform file no longer declares; observed too
  // (one more app list and a KV recurse each), so what galley applied there can be pruned.
  std::vector<std::string> removed_environments;
  // The agents' reports: every key under galley/<platform>/agents/ (one recurse). The live
  // LB models (galley/<platform>/haproxy/<instance>, one recurse) stay in live.kv, where the
  // planner, stale checks and recovery find them by key.
  std::map<std::string, model::LiveKvEntry> agent_reports;
};
// Observes the platform: 9 requests whatever the number of services (ARCHITECTURE.md), and
// one more to list Chronos' jobs when a Chronos endpoint is configured. Jobs declared with no
// Chronos configured: a warning, jobs not planned.
Result<Observed> ObservePlatform(Workspace& ws);

// The planner's input for `ws` and `observed` (which it consumes). `compare_key` is the key
// HMACs are compared under; `durable` says whether it is the platform's real key.
engine::PlanInput BuildPlanInput(const Workspace& ws, const TargetOptions& o, Observed&& observed,
                                 const std::string& compare_key, bool durable);

// Marks each action whose identical change failed to deploy last time (Action::last_failure,
// engine/failed_deploys.h), from the store's journal.
Status AnnotateFailures(Workspace& ws, engine::Plan& plan);

// 256 random bits as hex: the platform's HMAC key when apply creates it, or a throwaway key
// for comparing within one plan when the platform has none yet.
std::string RandomKey();

// What was seen, for the store: hash and token of everything (KV values as HMACs only; an
// LB model under `model_prefix` as "haproxy-model:<instance>", the sha256 of its document; a
// Chronos job as "chronos-job:<name>" with its normalised body, token its JobDigest).
std::vector<store::Observation> ObservationsOf(const model::LiveState& live,
                                               const std::string& compare_key,
                                               const std::string& model_prefix = "");

// The agents' status (engine/agent_status.h) from `reports`, the models `in` plans and the
// live ones, the hosts of the observed Marathon tasks and the agents that reported before
// (the store's observations; none when it cannot be read). Appends the reports' observations
// to `obs`, to be recorded with the run's.
engine::AgentSummary AgentStatusOf(Workspace& ws, const engine::PlanInput& in,
                                   const std::map<std::string, model::LiveKvEntry>& reports,
                                   std::vector<store::Observation>* obs);

// What status and drift compare: one observation (ObservePlatform) as the planner's input,
// under the platform's HMAC key or, when it has none (nothing applied yet: apply creates it
// first), a throwaway key that keeps comparisons within this run (in.hmac_key_durable false).
struct ObservedInput {
  engine::PlanInput in;
  std::vector<std::string> warnings;                        // Observed::warnings
  std::map<std::string, std::string> applied_at;            // Observed::applied_at
  std::map<std::string, model::LiveKvEntry> agent_reports;  // Observed::agent_reports
};
Result<ObservedInput> ObserveInput(Workspace& ws, const TargetOptions& o);

// The reconcile workflow's view of a workspace (engine::ReconcileSource): ObservePlatform,
// then BuildPlanInput over what that observation kept, and DescribePlan. `apply`, `restart`
// and serve's worker use it. Both references must outlive it; one workflow at a time.
class WorkspaceSource : public engine::ReconcileSource {
 public:
  WorkspaceSource(Workspace& ws, const TargetOptions& target) : ws_(ws), target_(target) {}
  Result<engine::Observation> Observe() override;
  engine::PlanInput PlanInputFor(engine::Observation&& latest, const std::string& compare_key,
                                 bool durable) override;
  void DescribePlan(const engine::PlanInput& in, engine::Plan* plan) override;

 private:
  Workspace& ws_;
  const TargetOptions& target_;
  Observed latest_;
};

}  // namespace galley::workspace
