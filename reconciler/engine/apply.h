// SPDX-License-Identifier: Apache-2.0
// Apply: turns a Plan into changes on the platform (DESIGN §3 "Apply", §7.2, §7.6, §7.12).
//  - Steps: each app action is one step; KV actions of one service × environment (puts, or
//    deletes) form one step written as Consul transactions of at most 64 ops, each op a
//    `cas` / `delete-cas` on the ModifyIndex the plan saw (0 = must not exist), so a hand
//    edit made since the plan is a conflict that is reported, never overwritten.
//  - Order: a step starts when every step it depends on succeeded; independent steps run
//    on `concurrency` workers. A failed step marks everything that depends on it, however
//    indirectly, "not attempted"; the rest goes on.
//  - Marathon: create POST; update and restart PUT ?partialUpdate=false with the planned
//    body (a restart asked for by `galley restart`: POST /v2/apps/{id}/restart, and what
//    was applied is not re-recorded); scale PUT {"instances"}; delete DELETE. Then the app is
//    followed until it is healthy (no deployment names it, tasksRunning == instances and, with
//    health checks, tasksHealthy == instances) or gone (delete), reporting progress (deployment
//    step, healthy/wanted). An app locked by another deployment: wait for it within the deadline,
//    or supersede it with `force`. "Too many deployments": back off and retry. On the
//    per-app deadline the deployment is cancelled without force (Marathon rolls back) and
//    the step fails. With `rollback_on_failure` a failed app is put back to the definition
//    it had when planned (a created app is deleted).
//  - Journal and records: every action is journaled in the store before it starts and when
//    it ends, with what it was meant to produce, so a run killed midway is resolved by the
//    next one (RecoverInterrupted) against live state. Each success updates the store's
//    last-applied record and galley's record in Consul (galley/<platform>/applied/<env>/<svc>).
//  - Secrets: a KV action carries the secret's source; the value is read at apply time and
//    its HMAC checked against the plan's (a changed secret fails the action, naming it).
// Effects go through ApplyTarget (real: Marathon and Consul; dry run: recorded), time
// through a Clock (base/clock.h), what happens through ApplyEventSink: the executor itself does no
// I/O. The pieces: engine/step_graph (steps, dependencies, waves; pure), engine/applied_record (the
// record format), engine/executor.cc (workers, journal, records, following), engine/recovery (crash
// recovery), engine/apply_checks (stale plans, safety rails, digests).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/status.h"
#include "clients/chronos_client.h"
#include "clients/consul_client.h"
#include "clients/marathon_client.h"
#include "engine/applied_record.h"
#include "engine/apply_checks.h"
#include "engine/events.h"
#include "engine/plan.h"
#include "engine/recovery.h"
#include "engine/step_graph.h"
#include "model/live_state.h"
#include "store/state_store.h"

namespace galley::engine {

// Where apply's effects go.
class ApplyTarget {
 public:
  virtual ~ApplyTarget() = default;
  virtual Result<clients::KvTxnResult> KvTxn(const std::vector<clients::KvTxnOp>& ops) = 0;
  // One key's value; nullopt when absent.
  virtual Result<std::optional<std::string>> KvGet(const std::string& key) = 0;
  virtual Result<clients::MarathonDeploymentResult> CreateApp(const nlohmann::json& body,
                                                              bool force) = 0;
  virtual Result<clients::MarathonDeploymentResult> UpdateApp(const std::string& id,
                                                              const nlohmann::json& body,
                                                              bool force) = 0;
  virtual Result<clients::MarathonDeploymentResult> ScaleApp(const std::string& id, int instances,
                                                             bool force) = 0;
  virtual Result<clients::MarathonDeploymentResult> DeleteApp(const std::string& id) = 0;
  // POST /v2/apps/{id}/restart: every task replaced per the app's upgradeStrategy.
  virtual Result<clients::MarathonDeploymentResult> RestartApp(const std::string& id, bool force) {
    (void)force;
    return Status::Internal("this target cannot restart " + id);
  }
  virtual Result<clients::MarathonDeploymentResult> CancelDeployment(
      const std::string& deployment_id) = 0;
  virtual Result<nlohmann::json> AppVersion(const std::string& id, const std::string& version) = 0;
  // The app with counts and the deployments touching it; kNotFound when it does not exist.
  virtual Result<model::LiveApp> App(const std::string& id) = 0;
  virtual Result<std::vector<clients::MarathonDeployment>> Deployments() = 0;
  // Writes one of galley's own records (applied records) in Consul.
  virtual Status PutRecord(const std::string& key, const std::string& value) = 0;

  // Chronos (issue #16). A target without Chronos refuses every job call. PutJob creates or
  // replaces (scheduled or dependent, by the body); DeleteJob: kNotFound when already gone;
  // StartJob: one manual run; JobStats: its counts and last outcomes; Job: the live job
  // (kNotFound when Chronos does not know it).
  virtual Status PutJob(const nlohmann::json& body) {
    return Status::Internal("this target has no Chronos: cannot write job " +
                            body.value("name", std::string("?")));
  }
  virtual Status DeleteJob(const std::string& name) {
    return Status::Internal("this target has no Chronos: cannot delete job " + name);
  }
  virtual Status StartJob(const std::string& name) {
    return Status::Internal("this target has no Chronos: cannot start job " + name);
  }
  virtual Result<clients::ChronosJobStats> JobStats(const std::string& name) {
    return Status::Internal("this target has no Chronos: cannot read job " + name);
  }
  virtual Result<clients::ChronosJob> Job(const std::string& name) {
    return Status::Internal("this target has no Chronos: cannot read job " + name);
  }
  // Where a job's runs write their output, for a failed hook's report.
  virtual std::string JobOutputLocation(const std::string& name) {
    return "the Mesos sandbox of job " + name + "'s last run";
  }
};

// The real target: Marathon, Consul and (when not null) Chronos through their clients (which
// must outlive it). Without Chronos every job call is refused, saying so.
std::unique_ptr<ApplyTarget> NewClientTarget(clients::MarathonClient& marathon,
                                             clients::ConsulClient& consul,
                                             clients::ChronosClient* chronos = nullptr);

// `apply --dry-run`: records every write instead of sending it; an app written is at once
// deployed and healthy, a deleted one gone. Reads of apps it never wrote go to `live`.
class DryRunTarget : public ApplyTarget {
 public:
  explicit DryRunTarget(model::LiveState live) : live_(std::move(live)) {}
  Result<clients::KvTxnResult> KvTxn(const std::vector<clients::KvTxnOp>& ops) override;
  Result<std::optional<std::string>> KvGet(const std::string& key) override;
  Result<clients::MarathonDeploymentResult> CreateApp(const nlohmann::json& body,
                                                      bool force) override;
  Result<clients::MarathonDeploymentResult> UpdateApp(const std::string& id,
                                                      const nlohmann::json& body,
                                                      bool force) override;
  Result<clients::MarathonDeploymentResult> ScaleApp(const std::string& id, int instances,
                                                     bool force) override;
  Result<clients::MarathonDeploymentResult> DeleteApp(const std::string& id) override;
  Result<clients::MarathonDeploymentResult> RestartApp(const std::string& id, bool force) override;
  Result<clients::MarathonDeploymentResult> CancelDeployment(
      const std::string& deployment_id) override;
  Result<nlohmann::json> AppVersion(const std::string& id, const std::string& version) override;
  Result<model::LiveApp> App(const std::string& id) override;
  Result<std::vector<clients::MarathonDeployment>> Deployments() override;
  Status PutRecord(const std::string& key, const std::string& value) override;
  // Jobs: a job written is at once what was sent, a deleted one gone, a started one
  // succeeded; reads of jobs it never wrote go to `jobs` (SetLiveJobs).
  Status PutJob(const nlohmann::json& body) override;
  Status DeleteJob(const std::string& name) override;
  Status StartJob(const std::string& name) override;
  Result<clients::ChronosJobStats> JobStats(const std::string& name) override;
  Result<clients::ChronosJob> Job(const std::string& name) override;
  // The Chronos jobs as observed (by name).
  void SetLiveJobs(std::map<std::string, clients::ChronosJob> jobs);
  // "PUT /v1/txn (3 ops: cas app/production/web/LOG_LEVEL, ...)", "POST /v2/apps /app/x",
  // "POST /v1/scheduler/iso8601 production-web-report", "PUT /v1/scheduler/job/<name>", ...
  std::vector<std::string> calls() const;

 private:
  Result<clients::MarathonDeploymentResult> Wrote(const std::string& call, const std::string& id,
                                                  int instances);
  mutable std::mutex mu_;
  model::LiveState live_;
  std::map<std::string, int> written_;  // app id → instances; -1 = deleted
  std::vector<std::string> calls_;
  int deployments_ = 0;
  std::map<std::string, clients::ChronosJob> jobs_;  // as observed, then as written
  std::map<std::string, int> job_runs_;              // runs started per job
};

struct ApplyOptions {
  int concurrency = 16;
  std::chrono::seconds app_deadline{600};  // per app: write → healthy
  // Per hook run (issue #16): start → the job's success or failure (`--hook-deadline`).
  std::chrono::seconds hook_deadline{600};
  // `--skip-hooks`: hook actions of a saved plan are not run (journaled "skipped"), and what
  // depends on them (the app's deploy) goes on.
  bool skip_hooks = false;
  // How often a deploying app is read: after 100 ms, then doubling up to this.
  std::chrono::milliseconds poll_interval{500};
  bool force = false;  // supersede deployments that lock an app
  bool rollback_on_failure = false;
  // Reads a secret at apply time: "env:NAME" / "file:/path" → the value, or an error naming it.
  std::function<Result<std::string>(const std::string& source)> read_secret;
  // What happens, as typed events (engine/events.h); may be null. The sink is called from
  // the workers one call at a time, never under the executor's or the recorder's lock.
  ApplyEventSink* events = nullptr;
  std::function<bool()> should_stop;  // e.g. the platform lock was lost
  // Called before every write to Marathon or Consul (retries and rollbacks included): an
  // error (the platform lock is gone) stops the apply and the write is not sent. May be empty.
  std::function<Status()> before_write;
  // SIGINT/SIGTERM: nothing new is started and apps being followed are no longer waited
  // for; their journal entries stay open ("started"), so the next apply follows them to
  // health (RecoverInterrupted) as after a crash.
  std::function<bool()> interrupted;
  // Deadlines, polling pauses, back-off, event times and record stamps; null: RealClock().
  Clock* clock = nullptr;
};

// Where the journal and the records go. `store` may be null (dry run: nothing recorded).
struct ApplyRecords {
  store::StateStore* store = nullptr;
  int64_t run_id = 0;
  std::string commit, who;
  std::string applied_prefix;  // galley/<platform>/applied/
  std::string hmac_key;        // the platform's: KV values are recorded as HMACs under it
  // galley's records in Consul as observed (key → JSON text), merged into on each success.
  std::map<std::string, std::string> consul_records;
};

struct ActionOutcome {
  std::string action_id;
  StepState state = StepState::kNotAttempted;
  std::string detail;  // the error, or why it was not attempted
  std::string deployment_id, version;
  bool rolled_back = false;
  // A hook left out by --skip-hooks (state kNotAttempted; counted in ApplyResult::skipped).
  bool skipped = false;
  double seconds = 0;
};

struct ApplyResult {
  std::vector<ActionOutcome> outcomes;  // in plan order
  int applied = 0, failed = 0, not_attempted = 0, interrupted = 0;
  int skipped = 0;  // hooks left out by --skip-hooks: not a failure
  double seconds = 0;
  bool ok() const { return failed == 0 && not_attempted == 0 && interrupted == 0; }
  // "3 applied, 1 failed, 2 not attempted" and one line per failure.
  std::string Summary() const;
  nlohmann::json ToJson() const;
};

ApplyResult ExecutePlan(const Plan& plan, ApplyTarget& target, const ApplyOptions& options,
                        ApplyRecords& records);

}  // namespace galley::engine
