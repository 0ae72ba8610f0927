// SPDX-License-Identifier: Apache-2.0
#include "engine/hooks.h"

#include <map>
#include <set>
#include <utility>

#include "engine/jobs.h"

namespace galley::engine {

HookPlan PlanHooks(std::vector<Action>& actions, const std::vector<DesiredJob>& jobs, bool skip) {
  HookPlan out;
  std::set<std::string> job_actions;  // jobs created or updated by this plan
  for (const auto& a : actions) {
    if (a.kind == ActionKind::kJobCreate || a.kind == ActionKind::kJobUpdate)
      job_actions.insert(a.id);
  }
  // {env, service} → its hook jobs.
  std::map<std::pair<std::string, std::string>, std::vector<const DesiredJob*>> hooks;
  for (const auto& j : jobs) {
    if (j.hook == "pre-deploy" || j.hook == "post-deploy") hooks[{j.env, j.service}].push_back(&j);
  }
  std::vector<Action> pre, post;
  for (auto& app : actions) {
    if (app.kind != ActionKind::kAppCreate && app.kind != ActionKind::kAppUpdate) continue;
    auto it = hooks.find({app.env, app.service});
    if (it == hooks.end()) continue;
    for (const DesiredJob* j : it->second) {
      if (skip) {
        out.skipped.push_back(j->name + " (" + j->hook + " of " + app.target + ")");
        continue;
      }
      Action h;
      h.id = HookActionId(j->name);
      h.kind = ActionKind::kHookRun;
      h.reason = app.reason;
      h.service = j->service;
      h.env = j->env;
      h.target = j->name;
      h.token = JobDigest(j->body);
      h.desired = nlohmann::json{{"hook", j->hook}, {"app", app.target}};
      if (job_actions.count(JobActionId(j->name))) h.depends_on.push_back(JobActionId(j->name));
      if (j->hook == "pre-deploy") {
        h.notes.push_back("runs before " + app.target + " is deployed; a failure stops its deploy");
        app.depends_on.push_back(h.id);
        pre.push_back(std::move(h));
      } else {
        h.notes.push_back("runs after " + app.target + " is deployed");
        h.depends_on.push_back(app.id);
        post.push_back(std::move(h));
      }
    }
  }
  for (auto& h : pre) out.runs.push_back(std::move(h));
  for (auto& h : post) out.runs.push_back(std::move(h));
  return out;
}

}  // namespace galley::engine
