// SPDX-License-Identifier: Apache-2.0
// State changes, deployments and the engine thread of the Marathon emulator (see
// emulator_impl.h for the locking rules).
#include <algorithm>
#include <cmath>
#include <regex>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox/marathon/emulator_impl.h"
#include "sandbox/marathon/path_id.h"

namespace galley::sandbox::marathon {
namespace {

constexpr size_t kMaxVersions = 50;  // --zk_max_versions
constexpr char kSnapshotFormat[] = "galley-sandbox-marathon/1";

bool IsTerminal(TaskState s) {
  return s == TaskState::kKilled || s == TaskState::kFailed || s == TaskState::kFinished;
}

const char* Condition(TaskState s) {
  switch (s) {
    case TaskState::kStaging:
      return "Staging";
    case TaskState::kStarting:
      return "Starting";
    case TaskState::kRunning:
      return "Running";
    case TaskState::kKilling:
      return "Killing";
    case TaskState::kKilled:
      return "Killed";
    case TaskState::kFailed:
      return "Failed";
    case TaskState::kFinished:
      return "Finished";
  }
  return "Unknown";
}

// Kill order by killSelection: YOUNGEST_FIRST kills the most recently launched first.
void SortForKill(std::vector<TaskRecord*>* v, const Json& app) {
  bool oldest_first = app.value("killSelection", "YOUNGEST_FIRST") == "OLDEST_FIRST";
  std::sort(v->begin(), v->end(), [&](const TaskRecord* a, const TaskRecord* b) {
    // Tasks that are not ready go first: they contribute nothing.
    if (a->Ready() != b->Ready()) return !a->Ready();
    return oldest_first ? a->launch_seq < b->launch_seq : a->launch_seq > b->launch_seq;
  });
}

// Whether nothing listens on (or holds) `port` on this machine: a test bind on the address
// a task binds (the wildcard for the default node, whose tasks may bind it; the node's own
// address otherwise, so tasks on different nodes can share a port number).
bool PortIsFree(const std::string& address, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (!address.empty() && ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
  }
  bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return free;
}

}  // namespace

MarathonEmulatorImpl::MarathonEmulatorImpl(const MarathonOptions& options,
                                           std::unique_ptr<TaskRunner> runner)
    : options_(options),
      runner_(std::move(runner)),
      service_ports_(options.first_service_port, options.last_service_port - 1) {
  simulated_ = dynamic_cast<SimulatedRunner*>(runner_.get());
  const bool default_node = options_.nodes.empty();
  enforce_constraints_ = !default_node;
  if (default_node) options_.nodes.push_back({options_.hostname, options_.hostname});
  for (size_t i = 0; i < options_.nodes.size(); ++i) {
    host_ports_.emplace_back(options.first_host_port, options.last_host_port);
    const std::string probe_at = default_node ? "" : options_.nodes[i].address;
    if (!simulated_)
      host_ports_.back().set_probe([probe_at](int port) { return PortIsFree(probe_at, port); });
  }
  root_version_ = NextVersion();
  runner_->SetListener([this](const std::string& id, const TaskStatus& status) {
    {
      std::lock_guard<std::mutex> lock(pending_mu_);
      pending_.emplace_back(id, status);
    }
    pending_cv_.notify_one();
  });
  engine_ = std::thread([this] { EngineLoop(); });
}

MarathonEmulatorImpl::~MarathonEmulatorImpl() { Stop(); }

void MarathonEmulatorImpl::Stop() {
  if (stopped_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    engine_stop_ = true;
  }
  pending_cv_.notify_all();
  if (engine_.joinable()) engine_.join();
  events_.Close();
  runner_->Shutdown();
}

void MarathonEmulatorImpl::Wake() {
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    wake_ = true;
  }
  pending_cv_.notify_one();
}

void MarathonEmulatorImpl::EngineLoop() {
  std::vector<std::pair<std::string, TaskStatus>> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(pending_mu_);
      pending_cv_.wait_for(lock, std::chrono::milliseconds(100),
                           [&] { return engine_stop_ || wake_ || !pending_.empty(); });
      if (engine_stop_) return;
      batch.swap(pending_);
      wake_ = false;
    }
    bool again;
    {
      std::lock_guard<std::mutex> lock(mu_);
      launch_budget_ = options_.launches_per_pass;
      launches_waiting_ = false;
      for (const auto& [id, status] : batch) OnStatus(id, status);
      batch.clear();
      AdvanceDeployments();
      SelfHeal();
      again = launches_waiting_;
    }
    // Launches were cut short by the per-pass budget: another pass right away, with the
    // lock released in between so requests get through.
    if (again) Wake();
  }
}

std::vector<TaskRecord*> MarathonEmulatorImpl::TasksOf(const std::string& app_id) {
  std::vector<TaskRecord*> out;
  auto it = tasks_by_app_.find(app_id);
  if (it == tasks_by_app_.end()) return out;
  for (const auto& id : it->second) {
    auto t = tasks_.find(id);
    if (t != tasks_.end()) out.push_back(&t->second);
  }
  return out;
}

std::set<std::string> MarathonEmulatorImpl::LockedApps() const {
  std::set<std::string> out;
  for (const auto& d : deployments_) out.insert(d.affected_apps.begin(), d.affected_apps.end());
  return out;
}

void MarathonEmulatorImpl::InvalidateTaskJson(const std::string& app_id) {
  for (TaskRecord* t : TasksOf(app_id)) t->json.reset();
}

ApiError MarathonEmulatorImpl::LockedError(const std::vector<std::string>& ids) const {
  Json deps = Json::array();
  for (const auto& id : ids) deps.push_back({{"id", id}});
  return ApiError{
      409,
      Json{
          {"message",
           "App is locked by one or more deployments. Override with the option '?force=true'. View "
           "details at '/v2/deployments/<DEPLOYMENT_ID>'."},
          {"deployments", deps}}};
}

std::optional<ApiError> MarathonEmulatorImpl::AssignPorts(Json& def, const std::string& id,
                                                          std::set<int>* picked) const {
  auto it = apps_.find(id);
  const Json* old = it == apps_.end() ? nullptr : &it->second.def;
  if (!service_ports_.Assign(def, old, picked)) {
    return ApiError{
        422, Json{{"message", "Object is not valid"},
                  {"details", Json::array({{{"path", "/portDefinitions"},
                                            {"errors", Json::array({ServicePortsExhausted(
                                                           options_.first_service_port,
                                                           options_.last_service_port)})}}})}}};
  }
  return std::nullopt;
}

std::variant<MarathonEmulatorImpl::DeployOutcome, ApiError> MarathonEmulatorImpl::ApplyChanges(
    std::vector<PendingChange> changes, bool force, const std::string& client_ip,
    const std::string& uri) {
  struct Classified {
    PendingChange change;
    AppChange::Kind kind;
  };
  std::vector<Classified> effective;
  for (auto& c : changes) {
    auto it = apps_.find(c.app_id);
    const Json* old = it == apps_.end() ? nullptr : &it->second.def;
    AppChange::Kind kind;
    if (!c.def) {
      if (!old) continue;
      kind = AppChange::kDelete;
    } else if (!old) {
      kind = AppChange::kCreate;
    } else if (c.restart || IsConfigChange(*old, *c.def)) {
      kind = AppChange::kRestart;
    } else if ((*old)["instances"] != (*c.def)["instances"]) {
      kind = AppChange::kScale;
    } else {
      continue;  // no-op: never conflicts, changes nothing
    }
    effective.push_back({std::move(c), kind});
  }

  std::vector<std::string> affected;
  for (const auto& e : effective) affected.push_back(e.change.app_id);
  std::vector<std::string> conflicting;
  for (const auto& d : deployments_) {
    for (const auto& a : d.affected_apps) {
      if (std::find(affected.begin(), affected.end(), a) != affected.end()) {
        conflicting.push_back(d.id);
        break;
      }
    }
  }
  if (!conflicting.empty() && !force) return LockedError(conflicting);
  if (!effective.empty() && static_cast<int>(deployments_.size() - conflicting.size()) >=
                                options_.max_running_deployments) {
    return ApiError{
        403,
        Json{{"message", "Max number (" + std::to_string(options_.max_running_deployments) +
                             ") of running deployments is achieved. Wait for existing deployments "
                             "to complete before starting new ones."}}};
  }
  for (const auto& id : conflicting)
    CancelDeployment(id, "Deployment was cancelled by a forced deployment");

  DeployOutcome outcome;
  outcome.deployment_id = NewUuid();
  outcome.version = NextVersion();
  Deployment d;
  d.id = outcome.deployment_id;
  d.version = outcome.version;
  std::vector<AppChange> plan_changes;
  for (auto& e : effective) {
    const std::string& id = e.change.app_id;
    auto it = apps_.find(id);
    d.original[id] = it == apps_.end() ? std::nullopt : std::optional<Json>(it->second.def);
    AppChange pc{id, e.kind, {}};
    if (e.kind == AppChange::kDelete) {
      service_ports_.Commit(it->second.service_ports, {});
      apps_.erase(it);
      d.target[id] = std::nullopt;
    } else {
      Json def = std::move(*e.change.def);
      AppRecord* rec;
      if (e.kind == AppChange::kCreate) {
        rec = &apps_[id];
        def["version"] = outcome.version;
        def["versionInfo"] = {{"lastScalingAt", outcome.version},
                              {"lastConfigChangeAt", outcome.version}};
        outcome.created_any = true;
        for (std::string g = ParentId(id);; g = ParentId(g)) {
          groups_.insert(g);
          if (g == "/") break;
        }
      } else {
        rec = &it->second;
        Json info = rec->def.value("versionInfo", Json::object());
        def["version"] = outcome.version;
        if (e.kind == AppChange::kScale) {
          info["lastScalingAt"] = outcome.version;
        } else if (e.change.restart && !IsConfigChange(rec->def, def)) {
          info["lastConfigChangeAt"] = outcome.version;
        } else {
          info["lastScalingAt"] = outcome.version;
          info["lastConfigChangeAt"] = outcome.version;
        }
        def["versionInfo"] = info;
      }
      if (e.kind != AppChange::kScale) ++rec->generation;
      std::vector<int> ports = ServicePortsOf(def);
      service_ports_.Commit(rec->service_ports, ports);
      rec->service_ports = ports;
      rec->has_health_checks = def.contains("healthChecks") && !def["healthChecks"].empty();
      rec->def = std::move(def);
      // Cached JSON is rebuilt here, as state changes, so a large GET never pays for it.
      rec->json_prefix = DefJsonPrefix(rec->def);
      rec->versions[outcome.version] = rec->def;
      while (rec->versions.size() > kMaxVersions) rec->versions.erase(rec->versions.begin());
      rec->backoff_ms = 0;
      rec->next_launch_ms = 0;
      InvalidateTaskJson(id);
      d.target[id] = rec->def;
      for (const auto& dep : rec->def.value("dependencies", Json::array()))
        pc.dependencies.push_back(dep);
    }
    plan_changes.push_back(std::move(pc));
    d.affected_apps.push_back(id);
  }
  d.steps = PlanSteps(plan_changes);
  if (!effective.empty()) {
    root_version_ = outcome.version;
    change_counter_.fetch_add(1);
  }
  for (const auto& e : effective) {
    if (e.kind == AppChange::kDelete) continue;
    const auto& def = apps_.at(e.change.app_id).def;
    events_.Publish("api_post_event",
                    {{"clientIp", client_ip}, {"uri", uri}, {"appDefinition", def}});
  }
  if (d.steps.empty()) {
    d.current_step = 0;
    PublishDeploymentEvent("deployment_success", d);
  } else {
    d.current_step = 1;
    events_.Publish("group_change_success", {{"groupId", "/"}, {"version", outcome.version}});
    deployments_.push_back(std::move(d));
    Wake();
  }
  return outcome;
}

void MarathonEmulatorImpl::PublishDeploymentEvent(const char* type, const Deployment& d) {
  if (!events_.HasSubscribers()) return;
  std::string t = type;
  if (t == "deployment_success" || t == "deployment_failed") {
    events_.Publish(t, {{"id", d.id}, {"plan", d.PlanJson(true)}});
  } else {
    events_.Publish(t, {{"plan", d.PlanJson(true)}, {"currentStep", d.CurrentStepJson()}});
  }
}

void MarathonEmulatorImpl::CancelDeployment(const std::string& id, const std::string& reason) {
  for (auto it = deployments_.begin(); it != deployments_.end(); ++it) {
    if (it->id != id) continue;
    if (events_.HasSubscribers()) {
      events_.Publish("deployment_failed",
                      {{"id", it->id}, {"plan", it->PlanJson(true)}, {"reason", reason}});
    }
    for (const auto& a : it->affected_apps) dirty_apps_.insert(a);
    deployments_.erase(it);
    Wake();
    return;
  }
}

void MarathonEmulatorImpl::KillTask(TaskRecord& t, bool unhealthy, bool goal_change) {
  if (t.kill_requested) return;
  t.kill_requested = true;
  if (goal_change && !unhealthy && events_.HasSubscribers()) {
    events_.Publish("instance_changed_event", {{"instanceId", t.instance_id},
                                               {"condition", Condition(t.state)},
                                               {"runSpecId", t.app_id},
                                               {"agentId", t.agent_id},
                                               {"host", t.host},
                                               {"runSpecVersion", t.version}});
  }
  t.killed_unhealthy = unhealthy;
  t.json.reset();
  dirty_apps_.insert(t.app_id);
  runner_->Kill(t.id);
}

bool MarathonEmulatorImpl::LaunchTasks(AppRecord& app, int count) {
  if (count <= 0) return true;
  if (NowMillis() < app.next_launch_ms) return false;
  // The cluster is full (the rest waits for tasks to end) or this pass launched enough.
  const int64_t room =
      std::max<int64_t>(0, options_.max_tasks - static_cast<int64_t>(tasks_.size()));
  bool all = true;
  if (count > room || count > launch_budget_) {
    all = false;
    if (launch_budget_ < room) launches_waiting_ = true;
    count = static_cast<int>(std::min<int64_t>(room, launch_budget_));
    if (count <= 0) return false;
  }
  launch_budget_ -= count;
  const std::string app_id = app.def["id"].get<std::string>();
  const int ports_needed = HostPortCount(app.def);
  for (int i = 0; i < count; ++i) {
    std::optional<size_t> node = PlaceTask(app);
    if (!node) {
      // No node satisfies the constraints: the instance waits, as in Marathon's launch
      // queue, and the deployment stays in progress until a node frees up.
      all = false;
      break;
    }
    HostPortAllocator& host_ports = host_ports_[*node];
    TaskRecord t;
    std::string uuid = NewUuid();
    t.instance_id = SafePath(app_id) + ".instance-" + uuid;
    t.id = t.instance_id + "._app.1";
    t.app_id = app_id;
    t.version = app.def["version"].get<std::string>();
    t.generation = app.generation;
    t.launch_seq = ++launch_seq_;
    t.node = *node;
    t.host = options_.nodes[*node].name;
    t.address = options_.nodes[*node].address;
    t.agent_id = std::string(kSlaveId, sizeof kSlaveId - 2) + std::to_string(*node);
    t.has_health_checks = app.has_health_checks;
    t.staged_at = FormatTimestamp(NowMillis());
    if (!host_ports.Allocate(ports_needed, simulated_ != nullptr, &t.host_ports)) {
      RecordFailure(&app, t, "TASK_ERROR", "no free host ports in the configured range");
      return false;
    }
    // requirePorts: the host ports are the service ports.
    if (app.def.value("requirePorts", false)) {
      host_ports.Release(t.host_ports);
      t.host_ports.clear();
      for (int p : app.service_ports) t.host_ports.push_back(p);
    }
    Status s = runner_->Launch(BuildTaskSpec(app.def, t));
    if (!s.ok()) {
      host_ports.Release(t.host_ports);
      RecordFailure(&app, t, "TASK_FAILED", s.message());
      int64_t base = app.def.value("backoffSeconds", 1) * 1000;
      int64_t cap = app.def.value("maxLaunchDelaySeconds", 300) * 1000;
      app.backoff_ms =
          app.backoff_ms == 0
              ? base
              : std::min<int64_t>(cap, static_cast<int64_t>(app.backoff_ms *
                                                            app.def.value("backoffFactor", 1.15)));
      app.next_launch_ms = NowMillis() + app.backoff_ms;
      return false;
    }
    tasks_by_app_[app_id].insert(t.id);
    std::string id = t.id;
    tasks_.emplace(id, std::move(t));
  }
  return all;
}

std::optional<size_t> MarathonEmulatorImpl::PlaceTask(const AppRecord& app) const {
  // The default node ignores constraints, as the one-host emulator always did: seed apps
  // ask for hostname:UNIQUE with several instances, which one real agent could not run.
  // No walk over every task at scale either.
  if (!enforce_constraints_) return 0;
  const std::string app_id = app.def["id"].get<std::string>();
  // Every non-terminal task counts where it runs, killing ones included: Marathon's
  // constraint checks see an instance until it is gone.
  std::vector<int> total(options_.nodes.size(), 0), of_app(options_.nodes.size(), 0);
  if (auto it = tasks_by_app_.find(app_id); it != tasks_by_app_.end()) {
    for (const auto& id : it->second) {
      if (auto t = tasks_.find(id); t != tasks_.end()) ++of_app[t->second.node];
    }
  }
  for (const auto& [id, t] : tasks_) ++total[t.node];
  std::optional<size_t> best;
  for (size_t n = 0; n < options_.nodes.size(); ++n) {
    if (!NodeSatisfies(app.def, options_.nodes[n].name, of_app[n])) continue;
    // Least loaded by this app's instances first (spreads an app), then by all tasks,
    // then node order: deterministic.
    if (!best || of_app[n] < of_app[*best] ||
        (of_app[n] == of_app[*best] && total[n] < total[*best])) {
      best = n;
    }
  }
  return best;
}

bool MarathonEmulatorImpl::NodeSatisfies(const Json& def, const std::string& hostname,
                                         int app_tasks_here) {
  for (const auto& c : def.value("constraints", Json::array())) {
    if (!c.is_array() || c.size() < 2 || !c[0].is_string() || !c[1].is_string()) continue;
    // Only hostname is an attribute of sandbox nodes; constraints on other attributes are
    // not enforced (README).
    if (c[0].get<std::string>() != "hostname") continue;
    const std::string op = c[1].get<std::string>();
    const std::string value = c.size() > 2 && c[2].is_string() ? c[2].get<std::string>() : "";
    if (op == "UNIQUE") {
      if (app_tasks_here > 0) return false;
    } else if (op == "CLUSTER" || op == "IS") {
      if (hostname != value) return false;
    } else if (op == "LIKE" || op == "UNLIKE") {
      bool match = false;
      try {
        match = std::regex_match(hostname, std::regex(value));
      } catch (const std::regex_error&) {
        return false;  // a pattern Marathon would not accept places nothing
      }
      if (match != (op == "LIKE")) return false;
    } else if (op == "MAX_PER") {
      int max = 0;
      try {
        max = std::stoi(value);
      } catch (const std::exception&) {
        return false;
      }
      if (app_tasks_here >= max) return false;
    }
    // GROUP_BY: the least-loaded choice already spreads an app evenly over the nodes.
  }
  return true;
}

void MarathonEmulatorImpl::RecordFailure(AppRecord* app, const TaskRecord& t,
                                         const std::string& state, const std::string& message) {
  if (!app) return;
  app->last_failure = Json{{"appId", t.app_id},    {"host", t.host},
                           {"message", message},   {"state", state},
                           {"taskId", t.id},       {"timestamp", FormatTimestamp(NowMillis())},
                           {"version", t.version}, {"slaveId", t.agent_id}};
}

void MarathonEmulatorImpl::OnStatus(const std::string& task_id, const TaskStatus& st) {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return;
  TaskRecord& t = it->second;
  const TaskState old_state = t.state;
  const bool old_has_health = t.HasHealthInfo();
  const bool old_healthy = t.Healthy();
  t.state = st.state;
  if (!st.staged_at.empty()) t.staged_at = st.staged_at;
  if (!st.started_at.empty()) t.started_at = st.started_at;
  t.health = st.health;
  if (st.state == TaskState::kRunning && old_state != TaskState::kRunning) {
    t.running_since = std::chrono::steady_clock::now();
  }
  dirty_apps_.insert(t.app_id);
  auto app_it = apps_.find(t.app_id);
  AppRecord* app = app_it == apps_.end() ? nullptr : &app_it->second;
  t.json = TaskJson(t, app ? app->service_ports : std::vector<int>{});

  if (st.state != old_state && events_.HasSubscribers()) {
    events_.Publish(
        "status_update_event",
        {{"slaveId", t.agent_id},
         {"taskId", t.id},
         {"taskStatus", MesosStateName(st.state)},
         {"message", st.message},
         {"appId", t.app_id},
         {"host", t.host},
         {"ipAddresses", Json::array({{{"ipAddress", t.address}, {"protocol", "IPv4"}}})},
         {"ports", t.host_ports},
         {"version", t.version}});
    events_.Publish("instance_changed_event", {{"instanceId", t.instance_id},
                                               {"condition", Condition(st.state)},
                                               {"runSpecId", t.app_id},
                                               {"agentId", t.agent_id},
                                               {"host", t.host},
                                               {"runSpecVersion", t.version}});
  }
  if (t.HasHealthInfo() && (!old_has_health || t.Healthy() != old_healthy)) {
    events_.Publish("health_status_changed_event", {{"appId", t.app_id},
                                                    {"instanceId", t.instance_id},
                                                    {"version", t.version},
                                                    {"alive", t.Healthy()}});
    if (app && t.Healthy()) app->backoff_ms = 0;
  }
  if (app && st.state == TaskState::kRunning && !t.has_health_checks &&
      old_state != TaskState::kRunning) {
    app->backoff_ms = 0;
  }

  if (IsTerminal(st.state)) {
    if (app) {
      if (t.killed_unhealthy) {
        RecordFailure(app, t, MesosStateName(st.state),
                      st.message.empty() ? "Health check failed" : st.message);
      } else if (!t.kill_requested) {
        RecordFailure(app, t, MesosStateName(st.state), st.message);
        if (st.state != TaskState::kKilled) {
          int64_t base = app->def.value("backoffSeconds", 1) * 1000;
          int64_t cap = app->def.value("maxLaunchDelaySeconds", 300) * 1000;
          app->backoff_ms =
              app->backoff_ms == 0
                  ? base
                  : std::min<int64_t>(cap,
                                      static_cast<int64_t>(app->backoff_ms *
                                                           app->def.value("backoffFactor", 1.15)));
          app->next_launch_ms = NowMillis() + app->backoff_ms;
        }
      }
    }
    if (!app || !app->def.value("requirePorts", false)) host_ports_[t.node].Release(t.host_ports);
    auto by_app = tasks_by_app_.find(t.app_id);
    if (by_app != tasks_by_app_.end()) {
      by_app->second.erase(task_id);
      if (by_app->second.empty()) tasks_by_app_.erase(by_app);
    }
    tasks_.erase(it);
    return;
  }

  // Health: kill after maxConsecutiveFailures (failures during the grace period before the
  // first success do not count).
  if (app && !t.kill_requested && !t.health.empty()) {
    const Json& checks = app->def.value("healthChecks", Json::array());
    for (size_t i = 0; i < t.health.size() && i < checks.size(); ++i) {
      const HealthResult& h = t.health[i];
      int max_failures = checks[i].value("maxConsecutiveFailures", 3);
      if (max_failures <= 0 || h.alive || h.consecutive_failures < max_failures) continue;
      auto grace = std::chrono::seconds(checks[i].value("gracePeriodSeconds", 300));
      if (h.first_success.empty() && std::chrono::steady_clock::now() - t.running_since < grace)
        continue;
      events_.Publish("unhealthy_instance_kill_event",
                      {{"appId", t.app_id},
                       {"taskId", t.id},
                       {"instanceId", t.instance_id},
                       {"version", t.version},
                       {"reason", "failed " + std::to_string(h.consecutive_failures) +
                                      " consecutive health checks"},
                       {"host", t.host},
                       {"slaveId", t.agent_id}});
      KillTask(t, true);
      break;
    }
  }
}

void MarathonEmulatorImpl::AdvanceDeployments() {
  for (auto it = deployments_.begin(); it != deployments_.end();) {
    Deployment& d = *it;
    bool finished = false;
    while (true) {
      if (d.current_step > d.steps.size()) {
        finished = true;
        break;
      }
      if (!d.announced) {
        d.announced = true;
        PublishDeploymentEvent("deployment_info", d);
      }
      bool done = true;
      for (const auto& a : d.steps[d.current_step - 1]) done = RunAction(d, a) && done;
      if (!done) break;
      PublishDeploymentEvent("deployment_step_success", d);
      ++d.current_step;
      d.announced = false;
    }
    if (finished) {
      d.current_step = d.steps.size();
      PublishDeploymentEvent("deployment_success", d);
      for (const auto& a : d.affected_apps) dirty_apps_.insert(a);
      it = deployments_.erase(it);
    } else {
      ++it;
    }
  }
}

bool MarathonEmulatorImpl::RunAction(Deployment& d, const DeploymentAction& a) {
  std::vector<TaskRecord*> tasks = TasksOf(a.app);
  auto app_it = apps_.find(a.app);
  if (a.action == "StartApplication") return true;
  if (a.action == "StopApplication") {
    for (TaskRecord* t : tasks) KillTask(*t, false);
    if (!tasks.empty()) return false;
    if (d.terminated_announced.insert(a.app).second)
      events_.Publish("app_terminated_event", {{"appId", a.app}});
    return true;
  }
  if (app_it == apps_.end()) {
    for (TaskRecord* t : tasks) KillTask(*t, false);
    return tasks.empty();
  }
  AppRecord& app = app_it->second;
  const int n = app.def["instances"].get<int>();
  int killing = 0;
  std::vector<TaskRecord*> live;
  for (TaskRecord* t : tasks) {
    if (t->Active()) {
      live.push_back(t);
    } else {
      ++killing;
    }
  }

  if (a.action == "ScaleApplication") {
    if (static_cast<int>(live.size()) > n) {
      SortForKill(&live, app.def);
      for (size_t i = 0; i < live.size() - n; ++i) KillTask(*live[i], false);
      return false;
    }
    if (static_cast<int>(live.size()) < n) {
      LaunchTasks(app, n - static_cast<int>(live.size()));
      return false;
    }
    if (killing > 0) return false;
    for (TaskRecord* t : live) {
      if (!t->Ready()) return false;
    }
    return true;
  }

  // RestartApplication: TaskReplaceActor.
  std::vector<TaskRecord*> old_live, new_live;
  int old_killing = 0;
  for (TaskRecord* t : tasks) {
    bool old = t->generation < app.generation;
    if (!t->Active()) {
      if (old) ++old_killing;
      continue;
    }
    (old ? old_live : new_live).push_back(t);
  }
  const Json& us = app.def["upgradeStrategy"];
  RollingBounds b = ComputeRollingBounds(n, us.value("minimumHealthCapacity", 1.0),
                                         us.value("maximumOverCapacity", 1.0));
  int old_ready = 0, new_ready = 0;
  for (TaskRecord* t : old_live) old_ready += t->Ready();
  for (TaskRecord* t : new_live) new_ready += t->Ready();
  auto cap_it = d.restart_max_capacity.find(a.app);
  if (cap_it == d.restart_max_capacity.end()) {
    int cap = b.max_capacity;
    // With no room at all, one extra instance lets the restart progress.
    if (b.min_healthy == b.max_capacity && old_ready >= b.min_healthy) cap = b.max_capacity + 1;
    cap_it = d.restart_max_capacity.emplace(a.app, cap).first;
  }
  const int max_capacity = cap_it->second;
  // Leftovers of a forced deployment beyond n new instances go at once.
  if (static_cast<int>(new_live.size()) > n) {
    SortForKill(&new_live, app.def);
    size_t extra = new_live.size() - n;
    for (size_t i = 0; i < extra; ++i) KillTask(*new_live[i], false);
    new_live.erase(new_live.begin(), new_live.begin() + static_cast<long>(extra));
  }
  // Retire old instances while enough ready instances remain.
  SortForKill(&old_live, app.def);
  int ready_total = old_ready + new_ready;
  std::vector<TaskRecord*> keep;
  for (TaskRecord* t : old_live) {
    if (!t->Ready()) {
      KillTask(*t, false);
      ++old_killing;
    } else if (ready_total - 1 >= b.min_healthy) {
      KillTask(*t, false);
      --ready_total;
      ++old_killing;
    } else {
      keep.push_back(t);
    }
  }
  old_live = keep;
  // Launch new instances within the capacity bound (instances being killed still count).
  int occupied = static_cast<int>(old_live.size() + new_live.size()) + killing + 0;
  occupied = static_cast<int>(old_live.size() + new_live.size());
  for (TaskRecord* t : tasks) {
    if (!t->Active()) ++occupied;
  }
  int to_launch = std::min(n - static_cast<int>(new_live.size()), max_capacity - occupied);
  if (to_launch > 0) LaunchTasks(app, to_launch);
  if (!old_live.empty() || old_killing > 0) return false;
  if (static_cast<int>(new_live.size()) != n || new_ready != n) return false;
  return true;
}

void MarathonEmulatorImpl::SelfHeal() {
  if (dirty_apps_.empty()) return;
  std::set<std::string> locked = LockedApps();
  std::set<std::string> still_dirty;
  for (const auto& id : dirty_apps_) {
    if (locked.count(id)) continue;
    auto it = apps_.find(id);
    if (it == apps_.end()) {
      for (TaskRecord* t : TasksOf(id)) KillTask(*t, false);
      continue;
    }
    AppRecord& app = it->second;
    const int n = app.def["instances"].get<int>();
    std::vector<TaskRecord*> live;
    for (TaskRecord* t : TasksOf(id)) {
      if (t->Active()) live.push_back(t);
    }
    if (static_cast<int>(live.size()) > n) {
      SortForKill(&live, app.def);
      for (size_t i = 0; i < live.size() - n; ++i) KillTask(*live[i], false);
    } else if (static_cast<int>(live.size()) < n) {
      if (!LaunchTasks(app, n - static_cast<int>(live.size()))) still_dirty.insert(id);
    }
  }
  dirty_apps_.swap(still_dirty);
}

Json MarathonEmulatorImpl::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  Json apps = Json::array();
  for (const auto& [id, app] : apps_) {
    Json versions = Json::array();
    for (const auto& [v, def] : app.versions) versions.push_back(def);
    Json a = {{"app", app.def}, {"versions", versions}, {"generation", app.generation}};
    if (app.last_failure) a["lastTaskFailure"] = *app.last_failure;
    apps.push_back(a);
  }
  return Json{{"format", kSnapshotFormat},
              {"apps", apps},
              {"groups", groups_},
              {"servicePorts", service_ports_.InUse()},
              {"rootVersion", root_version_}};
}

Status MarathonEmulatorImpl::Restore(const Json& snapshot) {
  if (!snapshot.is_object() || snapshot.value("format", "") != kSnapshotFormat) {
    return Status::InvalidArgument("not a Marathon emulator snapshot (format " +
                                   std::string(kSnapshotFormat) + ")");
  }
  try {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, AppRecord> apps;
    for (const auto& a : snapshot.at("apps")) {
      AppRecord rec;
      rec.def = a.at("app");
      if (!rec.def.is_object() || !rec.def.contains("id") || !rec.def.contains("instances")) {
        return Status::InvalidArgument("snapshot app without id or instances");
      }
      for (const auto& v : a.value("versions", Json::array()))
        rec.versions[v.at("version").get<std::string>()] = v;
      rec.generation = a.value("generation", uint64_t{1});
      if (a.contains("lastTaskFailure")) rec.last_failure = a["lastTaskFailure"];
      rec.service_ports = ServicePortsOf(rec.def);
      rec.has_health_checks = rec.def.contains("healthChecks") && !rec.def["healthChecks"].empty();
      apps[rec.def["id"].get<std::string>()] = std::move(rec);
    }
    // Tasks are not restored: every app is launched again to its instance count.
    for (const auto& [id, t] : tasks_) runner_->Kill(id);
    tasks_.clear();
    tasks_by_app_.clear();
    deployments_.clear();
    apps_ = std::move(apps);
    groups_.clear();
    for (const auto& g : snapshot.value("groups", Json::array()))
      groups_.insert(g.get<std::string>());
    service_ports_.Clear();
    for (const auto& [id, app] : apps_) {
      service_ports_.Commit({}, app.service_ports);
      dirty_apps_.insert(id);
      for (std::string g = ParentId(id);; g = ParentId(g)) {
        groups_.insert(g);
        if (g == "/") break;
      }
    }
    root_version_ = snapshot.value("rootVersion", root_version_);
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("malformed Marathon snapshot: ") + e.what());
  }
  change_counter_.fetch_add(1);
  Wake();
  return Status::Ok();
}

std::unique_ptr<Emulator> NewMarathonEmulator(const MarathonOptions& options,
                                              std::unique_ptr<TaskRunner> runner) {
  return std::make_unique<MarathonEmulatorImpl>(options, std::move(runner));
}

}  // namespace galley::sandbox::marathon
