// SPDX-License-Identifier: Apache-2.0
// The reconcile worker of `galley serve` (DESIGN §8 point 15): one thread takes coalesced
// triggers (trigger_queue.h) and reconciles the newest commit through the engine's workflow
// (engine/reconcile.h); a server that is not the leader only observes and plans (its API
// stays current, read-only) and applies nothing:
//
//   check out the commit (git_source.h) → open the workspace → environments with
//   `sync: auto` applied (the workflow's `confirm` approves; never from a dirty work tree)
//   → one observation of every environment → status, drift, and the plan of the `manual`
//   environments, kept (id = its digest, commit) for an explicit apply
//
// ApplyPlan(id) applies exactly the kept plan as a saved plan (the workflow checks it
// against live state and the store, as `galley apply PLANFILE` does): refused when the id is
// not the latest plan's, or when the platform moved since (stale). The latest status, drift,
// plan, the runs of this process and recent events are kept in memory for the API; the
// store records runs as the CLI does.
//
// Flapping (flapping.h): a resource whose drift was reverted max_reverts times within the
// window is left alone by the automatic apply (LeaveFlappingAlone) and listed under
// "flapping" in Status() and Drift(), until a commit changes its desired state or
// ClearFlapping (POST /api/v1/flapping/clear). A leader whose reconcile runs no workflow
// settles an interrupted apply itself (SettleInterrupted). After each run a RunReport goes to
// WorkerOptions::on_run (metrics, notifications, the drift watch: server.cc).
// Thread-safe: Snapshot* and ApplyPlan may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/plan.h"
#include "engine/planner.h"
#include "server/flapping.h"
#include "server/git_source.h"
#include "server/trigger_queue.h"
#include "workspace/workspace.h"

namespace galley::server {

// A log line: level ("info", "warn", "error"), message, structured fields.
using LogFn = std::function<void(const std::string& level, const std::string& message,
                                 const nlohmann::json& fields)>;

// What one reconcile found, for whoever observes the worker (server.cc feeds /metrics, the
// notifier and the drift watch from it): the worker itself knows nothing of Prometheus or
// notification targets.
struct RunReport {
  // ServeMetrics' result names: no_changes, applied, planned, incomplete, failed, lock_held,
  // stale_plan, held_back.
  std::string result;
  bool leader = false;
  bool ok = false;  // ended without an error (the last-success time)
  double seconds = 0;
  double plan_seconds = -1;   // the observation and plan of every environment; -1: not reached
  double apply_seconds = -1;  // the workflow of the `sync: auto` environments; -1: not run
  // The plan actions the workflow executed: (action kind, outcome: applied / failed /
  // not_attempted / interrupted).
  std::vector<std::pair<std::string, std::string>> actions;
  // Valid when `observed`: drift now, (environment, kind) → resources; drifted resource →
  // summary; resources whose last apply failed → the error.
  bool observed = false;
  std::map<std::pair<std::string, std::string>, double> drift_counts;
  std::map<std::string, std::string> drifted;
  std::map<std::string, std::string> failed;
  std::vector<std::string> flapping;  // resources left alone now
  // What the drift watch follows: the managed Marathon app-id and Consul KV prefixes.
  std::vector<std::string> app_prefixes, kv_prefixes;
};

struct WorkerOptions {
  // The endpoint flags and the state store (`dir` is each checkout's).
  workspace::TargetOptions target;
  std::string holder;  // LockHolderName(who): shown to whoever the platform lock refuses
  std::chrono::seconds app_deadline{600};
  int concurrency = 16;
  LogFn log;
  // Called on the worker thread after each reconcile and apply; must not block for long.
  std::function<void(const RunReport&)> on_run;
  // A resource reverted more than this within the window is left alone (flapping.h).
  FlappingOptions flapping;
};

// The result of POST /api/v1/apply.
struct ApplyAnswer {
  int http_status = 200;  // 200 applied, 409 stale or not the latest plan, 423 lock held, 500
  nlohmann::json body;
};

// Flapping, the pure part: for each drift revert `plan` makes (reason `drifted`, an app or a
// key; LB models are never left alone), asks `decide(resource)`; for each refused one, turns
// the drift policy of that service × environment × kind to `report` in `in`, so planning `in`
// again reports the drift instead of reverting it (Git's own changes still apply). Returns
// the resources left alone. Platform-wide keys (no service) cannot be singled out and are
// reverted whatever `decide` says.
std::vector<std::string> LeaveFlappingAlone(
    engine::PlanInput& in, const engine::Plan& plan,
    const std::function<RevertDecision(const std::string& resource)>& decide);

class Worker {
 public:
  Worker(RepositorySource& source, TriggerQueue& queue, WorkerOptions options);
  ~Worker();

  // Starts the thread. It applies only while `is_leader()` says so.
  void Start(std::function<bool()> is_leader);
  // Stops taking triggers; a running apply is interrupted the way SIGINT stops `galley
  // apply` (nothing new starts, written actions stay journaled); joins the thread.
  void Stop();

  // Applies the kept plan whose id is `plan_id` on the worker thread, waiting for the result
  // up to `wait`.
  ApplyAnswer ApplyPlan(const std::string& plan_id, std::chrono::milliseconds wait);

  // For the API (JSON documents; null until the first reconcile).
  nlohmann::json Status() const;  // engine::StatusToJson of the last observation
  // The same snapshots, shared rather than copied (the dashboard reads them per page).
  struct SharedSnapshot {
    std::shared_ptr<const nlohmann::json> status, drift, plan, agents;
  };
  SharedSnapshot Shared() const;
  // Status() as GET /api/v1/status sends it, serialised once per observation (null before).
  std::shared_ptr<const std::string> StatusText() const;
  nlohmann::json Plan() const;    // the kept plan as `plan --json` prints it, plus plan_id
  nlohmann::json Drift() const;   // engine::DriftToJson
  nlohmann::json Runs() const;    // this process's reconciles, newest first
  nlohmann::json Events() const;  // the most recent workflow and executor events
  // The flapping resources ({"resource", "since", "reverts"}), and their reset (someone
  // acted: POST /api/v1/flapping/clear). An empty `resource` clears every one; returns the
  // resources cleared.
  nlohmann::json Flapping() const;
  std::vector<std::string> ClearFlapping(const std::string& resource);
  nlohmann::json Agents() const;  // engine::AgentsToJson of the last observation
  // Change notification (the dashboard's live updates): version() grows whenever a snapshot
  // (status, drift, plan, runs) or the event list changes, snapshot_version() only with the
  // former. WaitForChange blocks until version() differs from `seen` or `wait` passes, and
  // returns it. applying(): an apply (sync: auto or POST /api/v1/apply) runs now.
  uint64_t version() const;
  uint64_t snapshot_version() const;
  uint64_t WaitForChange(uint64_t seen, std::chrono::milliseconds wait) const;
  bool applying() const { return applying_.load(); }
  bool loaded() const { return loaded_.load(); }  // a repository was loaded once
  uint64_t reconciles() const { return reconciles_.load(); }
  // The state store's path (the API reads runs and journals from it).
  std::string state_path() const;

 private:
  struct ApplyRequest {
    std::string plan_id;
    std::promise<ApplyAnswer> done;
  };
  void Loop();
  void Reconcile(const PendingReconcile& p, bool leader);
  ApplyAnswer DoApply(const std::string& plan_id);
  void Log(const std::string& level, const std::string& message,
           const nlohmann::json& fields = nlohmann::json::object()) const;
  void RecordRun(nlohmann::json run);
  void ChangedLocked(bool snapshot);  // mu_ held: bumps the versions, wakes WaitForChange
  class EventSink;
  class FlappingGuard;
  void Report(RunReport& report);
  // Settles what an apply cut short left "started" when no `sync: auto` environment runs the
  // workflow (a new leader of a manual-only platform): the workflow with `confirm` refusing.
  void SettleInterrupted(workspace::Workspace& ws, const workspace::TargetOptions& all);

  RepositorySource& source_;
  TriggerQueue& queue_;
  WorkerOptions options_;
  std::function<bool()> is_leader_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> loaded_{false};
  std::atomic<uint64_t> reconciles_{0};
  std::atomic<bool> applying_{false};

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::deque<std::shared_ptr<ApplyRequest>> applies_;
  nlohmann::json status_, plan_json_, drift_, agents_;
  std::shared_ptr<const std::string> status_text_;
  SharedSnapshot shared_;
  uint64_t version_ = 0, snapshot_version_ = 0;
  mutable std::condition_variable change_cv_;
  std::deque<nlohmann::json> runs_, events_;
  std::string state_path_;
  // The kept plan of the manual environments and what it was made from.
  std::optional<engine::Plan> plan_;
  std::string plan_id_, plan_commit_;
  FlappingDetector flapping_;
  // The worker thread's alone: resource → digest of its desired state (a Git change to a
  // flapping resource resets it), the last reported apply failures and drift.
  std::map<std::string, std::string> desired_digests_;
  std::map<std::string, std::string> failed_;
  // The last loaded workspace: the worker thread's alone.
  std::unique_ptr<workspace::Workspace> ws_holder_;
};

}  // namespace galley::server
