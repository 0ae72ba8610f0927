// SPDX-License-Identifier: Apache-2.0
#include "agent/registrations.h"

#include <set>

#include "base/strings.h"
#include "render/marathon_app.h"

namespace galley::agent {
namespace {

struct AppConvention {
  const model::Service* service = nullptr;
  std::string env;
};

// The task's own wanted registrations, one per exposed port with a host port.
std::vector<Registration> Wanted(const RegistrationInput& in, const AppConvention& app,
                                 const model::LiveTask& task, std::vector<std::string>& notes) {
  std::vector<Registration> out;
  const model::Service& s = *app.service;
  std::vector<std::string> tags = Split(render::ServiceTags(s, app.env), ',');
  // Marathon's health check has no portIndex in galley's rendering, so it probes the first
  // host port; the Consul check probes the same one for every port's registration.
  std::optional<ConsulCheck> check;
  if (s.health && !task.ports.empty()) {
    ConsulCheck c;
    std::string hostport = in.node_address + ":" + std::to_string(task.ports[0]);
    c.kind = s.health->path.empty() ? ConsulCheck::Kind::kTcp : ConsulCheck::Kind::kHttp;
    c.target = s.health->path.empty() ? hostport : "http://" + hostport + s.health->path;
    c.interval_s = s.health->interval_s;
    c.timeout_s = s.health->timeout_s;
    check = c;
  }
  for (size_t i = 0; i < s.ports.size(); ++i) {
    if (s.ports[i].expose == model::Expose::kNone) continue;
    if (i >= task.ports.size() || task.ports[i] <= 0) {
      notes.push_back("task " + task.id + " has no host port for container port " +
                      std::to_string(s.ports[i].container) + ": not registered");
      continue;
    }
    Registration r;
    r.id = task.id + "-" + std::to_string(i);
    r.name = s.RegisteredName(s.ports[i].container);
    r.tags = tags;
    r.address = in.node_address;
    r.port = task.ports[i];
    r.meta = {{kMetaTask, task.id}, {kMetaNode, in.node_name}};
    r.check = check;
    out.push_back(std::move(r));
  }
  return out;
}

bool SameAsRunning(const Registration& want, const Registration& have) {
  // Consul adds no meta of its own to agent services; extra keys would be someone's edit.
  return want.name == have.name && want.tags == have.tags && want.address == have.address &&
         want.port == have.port && want.meta == have.meta;
}

}  // namespace

RegistrationPlan PlanRegistrations(const RegistrationInput& in) {
  RegistrationPlan plan;
  std::map<std::string, AppConvention> conventions;  // Marathon app id → service, env
  for (const auto& s : in.state->services) {
    for (const auto& e : s.environments)
      conventions[render::MarathonAppId(e.name, s.name)] = {&s, e.name};
  }

  struct TaskRef {
    const model::LiveTask* task;
    const AppConvention* app;  // null: an app without galley's conventions
  };
  std::map<std::string, TaskRef> tasks;  // every task Marathon knows, by id
  for (const auto& [id, app] : *in.apps) {
    auto cit = conventions.find(id);
    for (const auto& t : app.tasks)
      tasks[t.id] = {&t, cit == conventions.end() ? nullptr : &cit->second};
  }

  auto on_node = [&](const model::LiveTask& t) {
    return t.host == in.node_name || (!in.node_address.empty() && t.host == in.node_address);
  };
  // Why a task must not be registered; "" when it should be.
  auto unfit = [&](const TaskRef& ref) -> std::string {
    const model::LiveTask& t = *ref.task;
    if (!on_node(t)) return "task runs on " + t.host + ", not on this node";
    if (t.state == "TASK_KILLING") return "task is killing";
    if (t.state != "TASK_RUNNING") return "task is " + t.state;
    if (ref.app && ref.app->service->health && !t.healthy) return "task is not healthy";
    return "";
  };

  std::map<std::string, Registration> wanted;  // by id
  for (const auto& [id, ref] : tasks) {
    if (!ref.app || !on_node(*ref.task) || !unfit(ref).empty()) continue;
    for (auto& r : Wanted(in, *ref.app, *ref.task, plan.notes)) wanted[r.id] = std::move(r);
  }

  std::set<std::string> present;
  for (const auto& have : in.current) {
    auto task_it = have.meta.find(kMetaTask);
    auto node_it = have.meta.find(kMetaNode);
    if (task_it == have.meta.end() || node_it == have.meta.end()) {
      if (wanted.count(have.id)) {
        // Registering would overwrite a registration galley does not own.
        plan.notes.push_back("registration " + have.id +
                             " exists without galley's meta: left alone");
        wanted.erase(have.id);
      }
      continue;
    }
    if (node_it->second != in.node_name) continue;  // another node's agent owns it
    present.insert(have.id);
    auto w = wanted.find(have.id);
    if (w != wanted.end()) {
      if (!SameAsRunning(w->second, have)) plan.to_register.push_back(w->second);
      continue;
    }
    auto t = tasks.find(task_it->second);
    std::string reason;
    if (t == tasks.end()) {
      reason = "task is gone";
    } else {
      reason = unfit(t->second);
      if (reason.empty() && !t->second.app)
        continue;  // running, healthy, conventions unknown: keep
      if (reason.empty()) reason = "no longer a registered port of the task";
    }
    plan.to_deregister.push_back({have.id, reason});
  }
  for (const auto& [id, r] : wanted) {
    if (!present.count(id)) plan.to_register.push_back(r);
  }
  return plan;
}

}  // namespace galley::agent
