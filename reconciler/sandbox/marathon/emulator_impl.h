// SPDX-License-Identifier: Apache-2.0
// MarathonEmulatorImpl: the state and machinery behind NewMarathonEmulator. Split over
// several translation units by concern:
//   emulator_core.cc    state changes, deployments and their engine thread, task
//                       bookkeeping from runner status, snapshot/restore
//   handlers_apps.cc    /v2/apps routes (list, create, update, patch, delete, restart,
//                       versions, app tasks) and the app JSON writer
//   handlers_other.cc   routing, auth, /v2/tasks, /v2/deployments, /v2/groups,
//                       /v2/events, /v2/info, /v2/leader, /v2/queue, /ping, admin
// Thread-safety: one mutex (mu_) guards apps, tasks and deployments. HTTP handlers take it
// for their reads and changes; large responses copy shared, cached JSON fragments under
// the lock and concatenate outside it. The engine thread takes mu_ to apply runner status
// updates and advance deployments; runner listener callbacks never take mu_ (they queue
// into pending_ under pending_mu_), so a runner may call back from any thread. Lock order:
// mu_ → pending_mu_; mu_ → runner's own locks (Launch/Kill are called under mu_).
#pragma once

#include <atomic>
#include <condition_variable>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "sandbox/marathon/app_normalise.h"
#include "sandbox/marathon/deployment.h"
#include "sandbox/marathon/event_bus.h"
#include "sandbox/marathon/marathon_emulator.h"
#include "sandbox/marathon/port_allocator.h"
#include "sandbox/marathon/simulated_runner.h"
#include "sandbox/marathon/task_record.h"

namespace galley::sandbox::marathon {

class MarathonEmulatorImpl : public Emulator {
 public:
  MarathonEmulatorImpl(const MarathonOptions& options, std::unique_ptr<TaskRunner> runner);
  ~MarathonEmulatorImpl() override;

  net::HttpResponse Handle(const net::HttpRequest& request) override;
  Json Snapshot() const override;
  Status Restore(const Json& snapshot) override;
  uint64_t ChangeCounter() const override { return change_counter_.load(); }
  void Stop() override;

 private:
  struct AppRecord {
    Json def;                              // normalised, with version and versionInfo
    std::map<std::string, Json> versions;  // version → definition at that version
    uint64_t generation = 0;               // bumped by config changes and restarts
    std::optional<Json> last_failure;
    bool has_health_checks = false;
    int64_t backoff_ms = 0;      // current launch delay after failures
    int64_t next_launch_ms = 0;  // no launches before this wall-clock time
    std::vector<int> service_ports;
    // def without its closing brace, serialised once per change.
    mutable std::shared_ptr<const std::string> json_prefix;
  };

  // One requested change to an app, before it is committed.
  struct PendingChange {
    std::string app_id;
    std::optional<Json> def;  // normalised with service ports; nullopt: delete
    bool restart = false;
  };
  struct DeployOutcome {
    std::string deployment_id;
    std::string version;
    bool created_any = false;
  };

  // ---- emulator_core.cc (REQUIRES mu_ held unless noted) ----
  // Commits changes as one deployment: lock check (409), deployment cap (403), versions,
  // service ports, groups, events. No-op changes give an empty, finished deployment.
  std::variant<DeployOutcome, ApiError> ApplyChanges(std::vector<PendingChange> changes, bool force,
                                                     const std::string& client_ip,
                                                     const std::string& uri);
  // Assigns service ports for a new definition of `id` (tentatively, for this request).
  std::optional<ApiError> AssignPorts(Json& def, const std::string& id,
                                      std::set<int>* picked) const;
  ApiError LockedError(const std::vector<std::string>& deployment_ids) const;
  // `unhealthy`: a health kill (its unhealthy_instance_kill_event is published by the
  // caller). `goal_change`: Marathon 1.8+ decommissions the instance first (scale down,
  // restart, delete), announced by an instance_changed_event with the condition unchanged;
  // a bare task kill (DELETE .../tasks without scale) relaunches and has no goal change.
  void KillTask(TaskRecord& t, bool unhealthy, bool goal_change = true);
  bool LaunchTasks(AppRecord& app, int count);
  // The node a new task of `app` goes to: the least-loaded one its hostname constraints
  // allow; nullopt when none does (the instance waits).
  std::optional<size_t> PlaceTask(const AppRecord& app) const;
  static bool NodeSatisfies(const Json& def, const std::string& hostname, int app_tasks_here);
  void OnStatus(const std::string& task_id, const TaskStatus& status);
  void AdvanceDeployments();
  bool RunAction(Deployment& d, const DeploymentAction& a);
  void SelfHeal();
  void CancelDeployment(const std::string& id, const std::string& reason);
  void RecordFailure(AppRecord* app, const TaskRecord& t, const std::string& state,
                     const std::string& message);
  std::vector<TaskRecord*> TasksOf(const std::string& app_id);
  std::set<std::string> LockedApps() const;
  void Wake();  // any thread
  void EngineLoop();
  void PublishDeploymentEvent(const char* type, const Deployment& d);
  void InvalidateTaskJson(const std::string& app_id);

  // ---- handlers_apps.cc ----
  net::HttpResponse HandleApps(const net::HttpRequest& req, const std::vector<std::string>& segs);
  net::HttpResponse ListApps(const net::HttpRequest& req, const std::string& group_prefix,
                             bool star);
  net::HttpResponse CreateApp(const net::HttpRequest& req);
  net::HttpResponse PutApps(const net::HttpRequest& req, bool patch);
  net::HttpResponse GetApp(const net::HttpRequest& req, const std::string& id);
  net::HttpResponse UpdateApp(const net::HttpRequest& req, const std::string& id, bool patch);
  net::HttpResponse DeleteApp(const net::HttpRequest& req, const std::string& id);
  net::HttpResponse RestartApp(const net::HttpRequest& req, const std::string& id);
  net::HttpResponse AppVersions(const std::string& id, const std::string* version);
  net::HttpResponse AppTasks(const net::HttpRequest& req, const std::string& id,
                             const std::string* task_id);
  // The new definition for a PUT/PATCH of `id` from `body` (merge or replace, or rollback).
  std::variant<PendingChange, ApiError> UpdateFromBody(Json body, const std::string& id,
                                                       bool partial, std::set<int>* picked);
  std::variant<PendingChange, ApiError> CreateFromBody(Json body, const std::string& id,
                                                       std::set<int>* picked);
  net::HttpResponse DeployResponse(const std::variant<DeployOutcome, ApiError>& r,
                                   int status = 200);

  struct Embed {
    bool tasks = false, counts = false, deployments = false, last_failure = false,
         readiness = false;
  };
  static Embed ParseEmbed(const net::HttpRequest& req);
  // Appends the AppInfo JSON of `app` to `pieces` (shared fragments plus small owned ones).
  using Pieces = std::vector<std::shared_ptr<const std::string>>;
  void AppInfo(const AppRecord& app, const Embed& embed, Pieces* pieces) const;
  std::shared_ptr<const std::string> TaskJsonOf(const TaskRecord& t, const AppRecord* app) const;
  // The app definition's JSON without its closing brace (AppInfo appends counts and tasks).
  static std::shared_ptr<const std::string> DefJsonPrefix(const Json& def);
  static std::string Concat(const Pieces& pieces);

  // ---- handlers_other.cc ----
  net::HttpResponse Route(const net::HttpRequest& req);
  bool Authorised(const net::HttpRequest& req) const;
  net::HttpResponse HandleTasks(const net::HttpRequest& req, const std::vector<std::string>& segs);
  net::HttpResponse HandleDeployments(const net::HttpRequest& req,
                                      const std::vector<std::string>& segs);
  net::HttpResponse HandleGroups(const net::HttpRequest& req, const std::vector<std::string>& segs);
  net::HttpResponse UpdateGroup(const net::HttpRequest& req, std::string gid);
  net::HttpResponse HandleEvents(const net::HttpRequest& req);
  net::HttpResponse HandleInfo();
  net::HttpResponse HandleAdmin(const net::HttpRequest& req, const std::vector<std::string>& segs);
  net::HttpResponse KillTasksResponse(const net::HttpRequest& req,
                                      std::vector<std::string> task_ids, bool single);

  MarathonOptions options_;           // nodes is never empty (the default node is filled in)
  bool enforce_constraints_ = false;  // only with an explicit node list
  std::unique_ptr<TaskRunner> runner_;
  SimulatedRunner* simulated_ = nullptr;  // runner_ when it is the simulated one
  EventBus events_;
  std::atomic<uint64_t> change_counter_{0};
  std::atomic<bool> stopped_{false};

  mutable std::mutex mu_;
  std::map<std::string, AppRecord> apps_;              // by canonical id
  std::set<std::string> groups_;                       // explicit and implicit group ids
  std::unordered_map<std::string, TaskRecord> tasks_;  // by task id
  std::map<std::string, std::set<std::string>>
      tasks_by_app_;                   // app id → task ids (outlives a deleted app)
  std::list<Deployment> deployments_;  // running, in start order
  ServicePortAllocator service_ports_;
  std::vector<HostPortAllocator> host_ports_;  // one per node, same index
  std::set<std::string> dirty_apps_;           // need self-healing checks
  uint64_t launch_seq_ = 0;
  int launch_budget_ = 0;          // launches left in this engine pass
  bool launches_waiting_ = false;  // the budget ran out this pass: run another one soon
  std::string root_version_;

  std::mutex pending_mu_;
  std::condition_variable pending_cv_;
  std::vector<std::pair<std::string, TaskStatus>> pending_;
  bool wake_ = false;
  bool engine_stop_ = false;
  std::thread engine_;
};

}  // namespace galley::sandbox::marathon
