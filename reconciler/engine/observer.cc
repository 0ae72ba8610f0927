// SPDX-License-Identifier: Apache-2.0
#include "engine/observer.h"

#include <algorithm>
#include <future>
#include <map>

namespace galley::engine {

Result<ObservedApps> ObserveApps(clients::MarathonClient& marathon, const ObserveScope& scope) {
  ObservedApps out;
  int before = marathon.requests();
  ASSIGN_OR_RETURN(out.apps, marathon.ListApps(scope.app_prefixes));
  out.requests = marathon.requests() - before;
  return out;
}

Status ObserveKv(clients::ConsulClient& consul, const ObserveScope& scope, model::LiveState* live) {
  int before = consul.requests();
  for (const auto& prefix : scope.kv_prefixes) {
    ASSIGN_OR_RETURN(auto list, consul.ListKv(prefix));
    live->kv_index = std::max(live->kv_index, list.index);
    for (auto& e : list.entries) live->kv[e.key] = std::move(e);
  }
  for (const auto& key : scope.exact_keys) {
    auto e = consul.GetKv(key);
    if (e.ok()) {
      live->kv[key] = std::move(*e);
    } else if (e.status().code() != StatusCode::kNotFound) {
      return e.status();
    }
  }
  live->requests += consul.requests() - before;
  return Status::Ok();
}

void AddApps(ObservedApps&& apps, model::LiveState* live) {
  for (auto& a : apps.apps) {
    std::string id = a.id;
    live->apps.insert_or_assign(std::move(id), std::move(a));
  }
  live->requests += apps.requests;
}

Result<model::LiveState> Observe(clients::MarathonClient& marathon, clients::ConsulClient& consul,
                                 const ObserveScope& scope) {
  // The future's destructor waits for the thread on every path out.
  auto apps = std::async(std::launch::async, [&] { return ObserveApps(marathon, scope); });
  model::LiveState live;
  Status kv = ObserveKv(consul, scope, &live);
  Result<ObservedApps> listed = apps.get();
  if (!listed.ok()) return listed.status();
  RETURN_IF_ERROR(kv);
  AddApps(std::move(*listed), &live);
  return live;
}

Status ObserveJobs(clients::ChronosClient& chronos, model::LiveState* live) {
  int before = chronos.requests();
  ASSIGN_OR_RETURN(auto jobs, chronos.ListJobs());
  std::map<std::string, nlohmann::json> by_name;
  for (auto& j : jobs) by_name[j.name] = std::move(j.body);
  live->jobs = std::move(by_name);
  live->jobs_observed = true;
  live->requests += chronos.requests() - before;
  return Status::Ok();
}

}  // namespace galley::engine
