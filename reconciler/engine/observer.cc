// SPDX-License-Identifier: Apache-2.0
#include "engine/observer.h"

#include <algorithm>
#include <map>

namespace galley::engine {

Result<model::LiveState> Observe(clients::MarathonClient& marathon, clients::ConsulClient& consul,
                                 const ObserveScope& scope) {
  model::LiveState live;
  int before = marathon.requests() + consul.requests();
  ASSIGN_OR_RETURN(auto apps, marathon.ListApps(scope.app_prefixes));
  for (auto& a : apps) live.apps[a.id] = std::move(a);
  for (const auto& prefix : scope.kv_prefixes) {
    ASSIGN_OR_RETURN(auto list, consul.ListKv(prefix));
    live.kv_index = std::max(live.kv_index, list.index);
    for (auto& e : list.entries) live.kv[e.key] = std::move(e);
  }
  for (const auto& key : scope.exact_keys) {
    auto e = consul.GetKv(key);
    if (e.ok()) {
      live.kv[key] = std::move(*e);
    } else if (e.status().code() != StatusCode::kNotFound) {
      return e.status();
    }
  }
  live.requests = marathon.requests() + consul.requests() - before;
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
