// SPDX-License-Identifier: Apache-2.0
// The step graph of an apply (pure, like ninja's Plan): a plan's actions grouped into steps,
// their dependencies, and the scheduling state of one run — which steps are ready, which
// wait, and which will never run because something they depend on failed. No threads, no
// target, no clock: the executor (engine/apply.h) drives it under its lock, and tests drive
// it by hand. Values; not synchronised.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/plan.h"

namespace galley::engine {

// One unit of scheduling: an app action, the KV actions of one service × environment
// (puts or deletes) with the same dependencies, one LB model write (a KV write too), one
// Chronos job write or one hook run (engine/job_steps.h).
struct Step {
  std::string name;             // "app-create /app/production/web", "kv-put production/web"
  std::vector<size_t> actions;  // indexes into plan.actions
  std::set<size_t> depends_on;  // step indexes
  std::vector<size_t> dependants;
  bool app = false;
  bool job = false;  // a Chronos job write or a hook run: one action
};

std::vector<Step> BuildSteps(const Plan& plan);

// Which steps may run now. A step is ready when every step it depends on succeeded; a step
// that did not succeed cancels its dependants, however indirectly.
class StepSchedule {
 public:
  explicit StepSchedule(std::vector<Step> steps);

  const std::vector<Step>& steps() const { return steps_; }
  const Step& step(size_t s) const { return steps_[s]; }
  // Every step has ended or been cancelled.
  bool Finished() const { return remaining_ == 0; }
  bool HasReady() const { return !ready_.empty(); }
  // The next ready step (taken: it is the caller's to run and report with Done).
  std::optional<size_t> Take();

  struct Cancelled {
    size_t step;
    std::string because;  // the name of the step that did not succeed
  };
  // Records that step `s` ended. Returns the steps that will now never run (empty when it
  // succeeded); the caller reports them, outside any lock it holds.
  std::vector<Cancelled> Done(size_t s, bool ok);

 private:
  void Cancel(size_t s, const std::string& because, std::vector<Cancelled>* out);

  std::vector<Step> steps_;
  std::deque<size_t> ready_;
  std::vector<size_t> waiting_;  // per step: dependencies not yet succeeded
  std::set<size_t> cancelled_;
  size_t remaining_ = 0;
};

// The steps apply runs in waves (every step of a wave depends only on earlier waves), for
// `apply --dry-run`: "wave 1: kv app/production/web (2 keys); app-create /app/production/web".
std::vector<std::vector<std::string>> ScheduleWaves(const Plan& plan);

}  // namespace galley::engine
