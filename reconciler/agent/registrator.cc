// SPDX-License-Identifier: Apache-2.0
#include "agent/registrator.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "base/strings.h"

namespace galley::agent {
namespace {

using TimePoint = std::chrono::steady_clock::time_point;
using std::chrono::milliseconds;

Registration FromAgent(const clients::AgentService& s) {
  Registration r;
  r.id = s.id;
  r.name = s.name;
  r.tags = s.tags;
  r.address = s.address;
  r.port = s.port;
  r.meta = s.meta;
  return r;
}

clients::AgentService ToAgent(const Registration& r) {
  clients::AgentService s;
  s.id = r.id;
  s.name = r.name;
  s.tags = r.tags;
  s.address = r.address;
  s.port = r.port;
  s.meta = r.meta;
  if (r.check) {
    clients::AgentCheck c;
    c.kind = r.check->kind == ConsulCheck::Kind::kHttp ? clients::AgentCheck::Kind::kHttp
                                                       : clients::AgentCheck::Kind::kTcp;
    c.target = r.check->target;
    c.interval_s = r.check->interval_s;
    c.timeout_s = r.check->timeout_s;
    s.check = c;
  }
  return s;
}

// Leaving states a task never comes back from (TASK_KILLING leads to one): such a task is
// barred from registration. TASK_LOST and TASK_UNREACHABLE may turn back into TASK_RUNNING.
bool Final(const std::string& state) {
  return clients::IsLeavingTaskState(state) && state != "TASK_LOST" && state != "TASK_UNREACHABLE";
}

std::string TaskOf(const Registration& r) {
  auto it = r.meta.find(kMetaTask);
  return it == r.meta.end() ? "" : it->second;
}

}  // namespace

Registrator::Registrator(clients::MarathonClient* marathon, clients::ConsulAgentClient* consul,
                         clients::MarathonEventSource* events, const model::DesiredState* state,
                         RegistratorOptions options)
    : marathon_(marathon),
      consul_(consul),
      events_(events),
      state_(state),
      options_(std::move(options)),
      clock_(ClockOr(options_.clock)),
      backoff_(options_.initial_backoff) {}

void Registrator::Log(const std::string& line) {
  if (!options_.log) return;
  std::lock_guard<std::mutex> lock(log_mu_);
  options_.log("registrator: " + line);
}

bool Registrator::OnNode(const std::string& host) const {
  return !host.empty() && (host == options_.node_name ||
                           (!options_.node_address.empty() && host == options_.node_address));
}

void Registrator::RequestResync(milliseconds delay) {
  std::lock_guard<std::mutex> lock(mu_);
  TimePoint at = clock_.Now() + delay;
  // Coalescing: a pending request keeps its (earlier or equal) time; events in between ride
  // along.
  if (!resync_at_ || at < *resync_at_) resync_at_ = at;
  woken_ = true;
  wake_.notify_all();
}

Status Registrator::Deregister(const std::string& id, const std::string& why) {
  Status s;
  {
    std::lock_guard<std::mutex> io(io_mu_);
    s = consul_->Deregister(id);
  }
  if (!s.ok()) {
    Log("cannot deregister " + id + " (" + why + "): " + s.message());
    return s;
  }
  Log("deregistered " + id + ": " + why);
  return s;
}

std::vector<Endpoint> Registrator::EndpointsOf(const std::string& host,
                                               const std::vector<int>& ports,
                                               const std::vector<std::string>& ips) const {
  std::set<Endpoint> out;
  const bool here = OnNode(host);
  for (int port : ports) {
    if (port <= 0) continue;
    if (!host.empty()) out.insert({host, port});
    for (const auto& ip : ips) out.insert({ip, port});
    if (here && !options_.node_address.empty()) out.insert({options_.node_address, port});
  }
  return std::vector<Endpoint>(out.begin(), out.end());
}

Result<SyncResult> Registrator::SyncOnce() {
  auto apps = marathon_->ListApps({"/"});
  if (!apps.ok()) {
    Status s = Status::Unavailable("cannot read Marathon, registrations left as they are: " +
                                   apps.status().message());
    Log(s.message());
    return s;
  }
  auto services = consul_->ListServices();
  if (!services.ok()) {
    Status s = Status::Unavailable("cannot list the Consul agent's services: " +
                                   services.status().message());
    Log(s.message());
    return s;
  }

  std::map<std::string, model::LiveApp> by_id;
  std::set<std::string> all_tasks, elsewhere;
  std::map<std::string, std::vector<Endpoint>> running;
  for (auto& app : *apps) {
    for (const auto& t : app.tasks) {
      all_tasks.insert(t.id);
      if (!OnNode(t.host)) elsewhere.insert(t.id);
      if (t.state == "TASK_RUNNING") running[t.id] = EndpointsOf(t.host, t.ports);
    }
    std::string id = app.id;
    by_id.emplace(std::move(id), std::move(app));
  }
  RegistrationInput in;
  in.state = state_;
  in.apps = &by_id;
  in.node_name = options_.node_name;
  in.node_address = options_.node_address;
  std::map<std::string, std::set<std::string>> known;
  for (const auto& s : *services) {
    Registration r = FromAgent(s);
    auto node = r.meta.find(kMetaNode);
    std::string task = TaskOf(r);
    if (!task.empty() && node != r.meta.end() && node->second == options_.node_name)
      known[task].insert(r.id);
    in.current.push_back(std::move(r));
  }
  RegistrationPlan plan = PlanRegistrations(in);

  const TimePoint now = clock_.Now();
  // Kills the event stream did not report (missed while disconnected): drained now.
  std::vector<std::pair<std::string, std::vector<Endpoint>>> unseen_kills;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, app] : by_id) {
      for (const auto& t : app.tasks) {
        if (!Final(t.state) || !killed_.emplace(t.id, now).second) continue;
        std::vector<Endpoint> endpoints = EndpointsOf(t.host, t.ports);
        if (!endpoints.empty()) unseen_kills.emplace_back(t.id, std::move(endpoints));
      }
    }
  }
  for (auto& [task, endpoints] : unseen_kills) {
    Log("task " + task + " is being killed (seen by the resync): drain requested");
    if (options_.on_killing) options_.on_killing(std::move(endpoints));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    known_ = std::move(known);
    remote_tasks_ = std::move(elsewhere);
    running_endpoints_ = std::move(running);
    // Conditions of instances none of whose tasks exist any more are forgotten (through the
    // instance ids each task can belong to: no task × instance comparison).
    std::set<std::string> instances;
    for (const auto& t : all_tasks) {
      for (auto& i : clients::InstancesOfTask(t)) instances.insert(std::move(i));
    }
    for (auto it = conditions_.begin(); it != conditions_.end();) {
      it = instances.count(it->first) ? std::next(it) : conditions_.erase(it);
    }
    for (auto it = killed_.begin(); it != killed_.end();) {
      bool gone = !all_tasks.count(it->first);
      if (gone || now - it->second > options_.killed_memory) {
        it = killed_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // A registration of a task seen leaving goes even when this read still shows the task
  // running (it predates the kill), e.g. when the event's deregistration failed.
  {
    std::set<std::string> planned;
    for (const auto& d : plan.to_deregister) planned.insert(d.id);
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& c : in.current) {
      auto node = c.meta.find(kMetaNode);
      if (node == c.meta.end() || node->second != options_.node_name) continue;
      if (killed_.count(TaskOf(c)) && !planned.count(c.id))
        plan.to_deregister.push_back({c.id, "task is being killed"});
    }
  }
  std::set<std::string> notes(plan.notes.begin(), plan.notes.end());
  for (const auto& n : notes) {
    if (!last_notes_.count(n)) Log(n);
  }
  last_notes_ = std::move(notes);

  SyncResult result;
  int failed = 0;
  Status first_failure;
  auto fail = [&](Status s) {
    if (failed++ == 0) first_failure = std::move(s);
  };
  for (const auto& d : plan.to_deregister) {
    Status s = Deregister(d.id, d.reason);
    if (!s.ok()) {
      fail(s);
      continue;
    }
    ++result.deregistered;
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [task, ids] : known_) ids.erase(d.id);
  }
  for (const auto& r : plan.to_register) {
    const std::string task = TaskOf(r);
    Status s;
    {
      std::lock_guard<std::mutex> io(io_mu_);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (killed_.count(task)) continue;  // left since the read; never again
      }
      s = consul_->Register(ToAgent(r));
      if (s.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        known_[task].insert(r.id);
      }
    }
    if (!s.ok()) {
      Log("cannot register " + r.id + " (" + r.name + " " + r.address + ":" +
          std::to_string(r.port) + "): " + s.message());
      fail(s);
      continue;
    }
    ++result.registered;
    Log("registered " + r.id + " as " + r.name + " at " + r.address + ":" + std::to_string(r.port));
  }
  std::set<std::string> touched;
  for (const auto& d : plan.to_deregister) touched.insert(d.id);
  for (const auto& r : plan.to_register) touched.insert(r.id);
  for (const auto& c : in.current) {
    auto node = c.meta.find(kMetaNode);
    if (!TaskOf(c).empty() && node != c.meta.end() && node->second == options_.node_name &&
        !touched.count(c.id)) {
      ++result.unchanged;
    }
  }
  if (failed > 0) {
    int total = static_cast<int>(plan.to_register.size() + plan.to_deregister.size());
    return Status::Unavailable(
        std::to_string(failed) + " of " + std::to_string(total) +
        " registration changes failed; the first: " + first_failure.message());
  }
  return result;
}

void Registrator::HandleKillHint(const clients::MarathonEvent& ev) {
  using Kind = clients::MarathonEvent::Kind;
  std::vector<Endpoint> endpoints;
  std::vector<std::string> tasks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto tasks_of_instance = [&] {
      for (const auto& [task, eps] : running_endpoints_) {
        if (!clients::TaskOfInstance(task, ev.instance_id)) continue;
        tasks.push_back(task);
        endpoints.insert(endpoints.end(), eps.begin(), eps.end());
      }
    };
    if (ev.kind == Kind::kUnhealthyKill) {
      tasks_of_instance();
    } else {
      auto it = conditions_.find(ev.instance_id);
      std::string previous;
      if (it != conditions_.end()) {
        previous = it->second;
      } else {
        for (const auto& [task, eps] : running_endpoints_) {
          if (clients::TaskOfInstance(task, ev.instance_id)) {
            previous = "Running";
            break;
          }
        }
      }
      conditions_[ev.instance_id] = ev.condition;
      // The same condition again is a goal change; only a running one matters to HAProxy.
      if (previous == "Running" && ev.condition == "Running") tasks_of_instance();
      static const std::set<std::string> kGone = {
          "Killed", "Finished", "Failed", "Error", "Gone", "Dropped", "UnreachableInactive"};
      if (kGone.count(ev.condition)) conditions_.erase(ev.instance_id);
    }
  }
  if (endpoints.empty()) return;
  std::string names;
  for (const auto& t : tasks) names += (names.empty() ? "" : ", ") + t;
  Log("task " + names + " is about to be killed (" +
      (ev.kind == Kind::kUnhealthyKill ? std::string("unhealthy_instance_kill_event")
                                       : std::string("its instance's goal changed")) +
      "): drain requested");
  if (options_.on_killing) options_.on_killing(std::move(endpoints));
}

void Registrator::HandleEvent(const clients::MarathonEvent& ev) {
  using Kind = clients::MarathonEvent::Kind;
  if (ev.kind == Kind::kInstanceChanged || ev.kind == Kind::kUnhealthyKill) {
    HandleKillHint(ev);
    return;
  }
  if (ev.kind == Kind::kStatusUpdate && clients::IsLeavingTaskState(ev.task_status)) {
    const bool here = OnNode(ev.host);
    const std::vector<Endpoint> endpoints = EndpointsOf(ev.host, ev.ports, ev.ip_addresses);
    std::set<std::string> ids;
    bool first_sight = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_endpoints_.erase(ev.task_id);
      first_sight = !Final(ev.task_status) || killed_.emplace(ev.task_id, clock_.Now()).second;
      if (auto it = known_.find(ev.task_id); it != known_.end()) {
        ids = it->second;
        known_.erase(it);
      }
    }
    if (here) {
      // IDs are <task id>-<port index>; deregistering one the agent lacks is a no-op, so the
      // ones this registrator has not listed yet (registered by a previous run) go too.
      for (size_t i = 0; i < ev.ports.size(); ++i) ids.insert(ev.task_id + "-" + std::to_string(i));
    }
    if (!endpoints.empty() && options_.on_killing) options_.on_killing(endpoints);
    if (first_sight || !ids.empty()) {
      Log("task " + ev.task_id + " on " + (ev.host.empty() ? "an unknown host" : ev.host) + " is " +
          ev.task_status + (endpoints.empty() ? "" : ": drain requested"));
    }
    for (const auto& id : ids) {
      Status s = Deregister(id, "task is " + ev.task_status);
      if (!s.ok()) RequestResync(milliseconds(0));  // retried by the resync's plan, with backoff
    }
    return;
  }
  if (ev.kind == Kind::kStatusUpdate) {
    if (ev.task_status == "TASK_RUNNING") {
      std::lock_guard<std::mutex> lock(mu_);
      running_endpoints_[ev.task_id] = EndpointsOf(ev.host, ev.ports, ev.ip_addresses);
    }
    if (!OnNode(ev.host)) return;  // another node's agent registers it
    RequestResync(options_.coalesce);
    return;
  }
  if (ev.kind == Kind::kHealthChanged) {
    const std::string& instance = ev.instance_id.empty() ? ev.task_id : ev.instance_id;
    std::set<std::string> ids;
    bool remote = false;  // a task the last read placed on another node
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& t : remote_tasks_) remote = remote || clients::TaskOfInstance(t, instance);
      if (ev.alive == std::optional<bool>(false)) {
        for (auto it = known_.begin(); it != known_.end(); ++it) {
          if (clients::TaskOfInstance(it->first, instance))
            ids.insert(it->second.begin(), it->second.end());
        }
      }
    }
    for (const auto& id : ids) {
      Status s = Deregister(id, "task failed its health check");
      (void)s;  // logged; the next resync's plan decides again
    }
    // Health events carry no host: unless the last read placed the task elsewhere (a task
    // newer than that read may be this node's), resync.
    if (ev.alive == std::optional<bool>(true) && !remote) RequestResync(options_.coalesce);
    return;
  }
}

void Registrator::HandleConnected(const std::string& url) {
  Log("following Marathon's events at " + url + "; resyncing");
  RequestResync(milliseconds(0));
}

void Registrator::HandleDisconnected(const Status& why) {
  Log("event stream lost (" + why.message() + "); reconnecting");
}

TimePoint Registrator::RunDue() {
  const TimePoint now = clock_.Now();
  bool due = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    due = (resync_at_ && *resync_at_ <= now) || (retry_at_ && *retry_at_ <= now) ||
          periodic_at_ <= now;
    if (due) resync_at_.reset();  // requests arriving during the resync schedule another
  }
  if (due) {
    auto r = SyncOnce();
    std::lock_guard<std::mutex> lock(mu_);
    const TimePoint after = clock_.Now();
    periodic_at_ = after + options_.resync_interval;
    if (r.ok()) {
      retry_at_.reset();
      backoff_ = options_.initial_backoff;
    } else {
      retry_at_ = after + backoff_;
      backoff_ = std::min(options_.max_backoff, backoff_ * 2);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  TimePoint next = periodic_at_;
  if (resync_at_) next = std::min(next, *resync_at_);
  if (retry_at_) next = std::min(next, *retry_at_);
  return next;
}

void Registrator::Run(const std::atomic<bool>& stop) {
  std::thread follower;
  if (events_) {
    clients::MarathonEventHandler handler;
    handler.on_connected = [this](const std::string& url) { HandleConnected(url); };
    handler.on_disconnected = [this](const Status& why) { HandleDisconnected(why); };
    handler.on_event = [this](const clients::MarathonEvent& ev) { HandleEvent(ev); };
    handler.on_log = [this](const std::string& line) { Log(line); };
    follower = std::thread([this, &stop, handler] { events_->Run(stop, handler); });
  }
  while (!stop.load()) {
    TimePoint next = RunDue();
    std::unique_lock<std::mutex> lock(mu_);
    auto left = std::chrono::duration_cast<milliseconds>(next - clock_.Now());
    auto wait = std::clamp(left, milliseconds(0), milliseconds(100));
    wake_.wait_for(lock, wait, [&] { return woken_ || stop.load(); });
    woken_ = false;
  }
  if (follower.joinable()) follower.join();
}

}  // namespace galley::agent
