// SPDX-License-Identifier: Apache-2.0
#include "engine/follower.h"

#include <algorithm>
#include <thread>

#include "base/strings.h"

namespace galley::engine {

using json = nlohmann::json;

ApplyOptions WithDefaults(ApplyOptions o) {
  if (!o.clock) o.clock = &RealClock();
  if (o.concurrency < 1) o.concurrency = 1;
  return o;
}

std::string DeadlineText(std::chrono::seconds d) {
  auto s = d.count();
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

bool Healthy(const model::LiveApp& app) {
  if (!app.deployment_ids.empty()) return false;
  if (app.tasks_running != app.instances) return false;
  const json* hc = app.body.contains("healthChecks") ? &app.body["healthChecks"] : nullptr;
  bool has_checks = hc && hc->is_array() && !hc->empty();
  return !has_checks || app.tasks_healthy == app.instances;
}

void EventReporter::Emit(ApplyEvent event) {
  if (!sink_) return;
  event.at = std::chrono::duration<double>(clock_.Now() - start_).count();
  std::lock_guard<std::mutex> lock(mu_);
  sink_->On(event);
}

void EventReporter::Emit(EventKind kind, const std::string& action_id, const std::string& target,
                         const std::string& line) {
  ApplyEvent e;
  e.kind = kind;
  e.action_id = action_id;
  e.target = target;
  e.line = line;
  Emit(std::move(e));
}

Status Follower::Wait(bool deleting, const std::string& id, const std::string& deployment_id,
                      std::chrono::steady_clock::time_point deadline) {
  std::string last;
  int polls = 0;
  for (;;) {
    auto app = target.App(id);
    ApplyEvent event;
    event.kind = EventKind::kDeployment;
    event.action_id = action_id;
    event.target = id;
    std::string state;
    if (deleting) {
      if (!app.ok() && app.status().code() == StatusCode::kNotFound) return Status::Ok();
      if (app.ok()) {
        state = "stopping, " + std::to_string(app->tasks_running) + " tasks left";
        event.running = app->tasks_running;
        event.healthy = app->tasks_healthy;
        event.deployment_id = app->deployment_ids.empty() ? deployment_id : app->deployment_ids[0];
      }
    } else if (app.ok()) {
      if (Healthy(*app)) return Status::Ok();
      event = Describe(*app, deployment_id);
      event.target = id;
      state = event.line;
    }
    if (!app.ok() && !(deleting && app.status().code() == StatusCode::kNotFound)) {
      state = "cannot read the app: " + app.status().message();
      event = ApplyEvent{};
      event.kind = EventKind::kStepNote;
      event.action_id = action_id;
      event.target = id;
    }
    if (state != last) {
      event.line = id + ": " + state;
      events.Emit(std::move(event));
      last = state;
    }
    if ((o.interrupted && o.interrupted()) || (o.should_stop && o.should_stop())) {
      return Status::Unavailable("stopped while waiting (" + state + ")");
    }
    if (o.clock->Now() >= deadline) {
      std::string msg = "not " + std::string(deleting ? "gone" : "healthy") + " within " +
                        DeadlineText(o.app_deadline) + " (" + state + ")";
      // The deployment this apply started, or (following one it did not start) whatever
      // deploys the app now.
      std::vector<std::string> running =
          app.ok() ? app->deployment_ids : std::vector<std::string>{};
      for (const std::string& dep : running) {
        if (!deployment_id.empty() && dep != deployment_id) continue;
        auto cancelled = target.CancelDeployment(dep);
        msg += cancelled.ok()
                   ? "; deployment " + dep + " cancelled, Marathon rolls the app back"
                   : "; cancelling deployment " + dep + " failed: " + cancelled.status().message();
      }
      return Status::Timeout(msg);
    }
    // Quick first looks (a small app is often healthy within a second), then every
    // poll_interval.
    o.clock->Sleep(
        std::min(o.poll_interval, std::chrono::milliseconds(100L << std::min(polls++, 10))));
  }
}

ApplyEvent Follower::Describe(const model::LiveApp& app, const std::string& deployment_id) {
  ApplyEvent e;
  e.kind = EventKind::kDeployment;
  e.action_id = action_id;
  e.healthy = app.tasks_healthy;
  e.running = app.tasks_running;
  e.wanted = app.instances;
  std::string s;
  if (!app.deployment_ids.empty()) {
    s = "deploying";
    const std::string& wanted = deployment_id.empty() ? app.deployment_ids[0] : deployment_id;
    e.deployment_id = wanted;
    auto deps = target.Deployments();
    if (deps.ok()) {
      for (const auto& d : *deps) {
        if (d.id != wanted) continue;
        s = "deployment step " + std::to_string(d.current_step) + "/" +
            std::to_string(d.total_steps);
        e.deployment_step = d.current_step;
        e.deployment_steps = d.total_steps;
        if (!d.current_actions.empty()) s += " (" + Join(d.current_actions, ", ") + ")";
      }
    }
    s += ", ";
  }
  s += "healthy " + std::to_string(app.tasks_healthy) + "/" + std::to_string(app.instances) +
       ", running " + std::to_string(app.tasks_running);
  e.line = s;
  return e;
}

}  // namespace galley::engine
