// SPDX-License-Identifier: Apache-2.0
#include "engine/step_graph.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "base/strings.h"

namespace galley::engine {

std::vector<Step> BuildSteps(const Plan& plan) {
  std::vector<Step> steps;
  std::map<std::string, size_t> step_of_action;
  std::map<std::tuple<bool, std::string, std::string, std::string>, size_t> kv_group;
  for (size_t i = 0; i < plan.actions.size(); ++i) {
    const Action& a = plan.actions[i];
    if (IsAppAction(a.kind)) {
      Step s;
      s.name = std::string(ActionKindName(a.kind)) + " " + a.target;
      s.actions = {i};
      s.app = true;
      step_of_action[a.id] = steps.size();
      steps.push_back(std::move(s));
      continue;
    }
    if (IsJobAction(a.kind) || IsHookAction(a.kind)) {  // "job-create production-web-report"
      Step s;
      s.name = std::string(ActionKindName(a.kind)) + " " + a.target;
      s.actions = {i};
      s.job = true;
      step_of_action[a.id] = steps.size();
      steps.push_back(std::move(s));
      continue;
    }
    if (IsModelAction(a.kind)) {  // a KV write of its own: "haproxy-model-create internal"
      Step s;
      s.name = std::string(ActionKindName(a.kind)) + " " + ModelInstanceOf(a.target);
      s.actions = {i};
      step_of_action[a.id] = steps.size();
      steps.push_back(std::move(s));
      continue;
    }
    bool put = a.kind == ActionKind::kKvPut;
    std::string deps = Join(a.depends_on, ",");
    auto key = std::make_tuple(put, a.env, a.service, deps);
    auto it = kv_group.find(key);
    if (it == kv_group.end()) {
      Step s;
      std::string scope = a.service.empty() ? "platform keys" : a.env + "/" + a.service;
      s.name = std::string(put ? "kv-put " : "kv-delete ") + scope;
      it = kv_group.emplace(key, steps.size()).first;
      steps.push_back(std::move(s));
    }
    steps[it->second].actions.push_back(i);
    step_of_action[a.id] = it->second;
  }
  for (size_t s = 0; s < steps.size(); ++s) {
    for (size_t i : steps[s].actions) {
      for (const auto& dep : plan.actions[i].depends_on) {
        auto it = step_of_action.find(dep);
        if (it != step_of_action.end() && it->second != s) steps[s].depends_on.insert(it->second);
      }
    }
  }
  for (size_t s = 0; s < steps.size(); ++s) {
    for (size_t d : steps[s].depends_on) steps[d].dependants.push_back(s);
  }
  return steps;
}

StepSchedule::StepSchedule(std::vector<Step> steps) : steps_(std::move(steps)) {
  waiting_.resize(steps_.size());
  for (size_t s = 0; s < steps_.size(); ++s) {
    waiting_[s] = steps_[s].depends_on.size();
    if (waiting_[s] == 0) ready_.push_back(s);
  }
  remaining_ = steps_.size();
}

std::optional<size_t> StepSchedule::Take() {
  if (ready_.empty()) return std::nullopt;
  size_t s = ready_.front();
  ready_.pop_front();
  return s;
}

std::vector<StepSchedule::Cancelled> StepSchedule::Done(size_t s, bool ok) {
  std::vector<Cancelled> cancelled;
  --remaining_;
  for (size_t d : steps_[s].dependants) {
    if (!ok) {
      Cancel(d, steps_[s].name, &cancelled);
    } else if (!cancelled_.count(d) && --waiting_[d] == 0) {
      // Ahead of the steps that were ready from the start: an app starts as soon as its
      // keys are written, not after every service's keys are.
      ready_.push_front(d);
    }
  }
  return cancelled;
}

void StepSchedule::Cancel(size_t s, const std::string& because, std::vector<Cancelled>* out) {
  if (!cancelled_.insert(s).second) return;
  --remaining_;
  out->push_back({s, because});
  for (size_t d : steps_[s].dependants) Cancel(d, because, out);
}

std::vector<std::vector<std::string>> ScheduleWaves(const Plan& plan) {
  std::vector<Step> steps = BuildSteps(plan);
  std::vector<int> wave(steps.size(), -1);
  std::vector<std::vector<std::string>> waves;
  // Steps only depend on steps of actions earlier in the plan's dependency order, but a
  // fixpoint makes no such assumption.
  bool changed = true;
  while (changed) {
    changed = false;
    for (size_t s = 0; s < steps.size(); ++s) {
      int w = 0;
      bool known = true;
      for (size_t d : steps[s].depends_on) {
        if (wave[d] < 0)
          known = false;
        else
          w = std::max(w, wave[d] + 1);
      }
      if (known && wave[s] != w) {
        wave[s] = w;
        changed = true;
      }
    }
  }
  for (size_t s = 0; s < steps.size(); ++s) {
    if (wave[s] < 0) continue;
    if (static_cast<size_t>(wave[s]) >= waves.size()) waves.resize(wave[s] + 1);
    std::string line = steps[s].name;
    if (steps[s].job) {
      if (IsHookAction(plan.actions[steps[s].actions[0]].kind))
        line += ", then wait for its success or failure";
    } else if (!steps[s].app)
      line += " (" + std::to_string(steps[s].actions.size()) +
              (steps[s].actions.size() == 1 ? " key)" : " keys)");
    else if (plan.actions[steps[s].actions[0]].kind != ActionKind::kAppDelete)
      line += ", then wait until healthy";
    else
      line += ", then wait until gone";
    waves[wave[s]].push_back(line);
  }
  return waves;
}

}  // namespace galley::engine
