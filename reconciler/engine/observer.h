// SPDX-License-Identifier: Apache-2.0
// Observe: reads everything under the managed prefixes from Marathon and Consul into a
// LiveState — one app list call with embedded tasks and deployments, one KV recurse per
// prefix, one GET per exact key — so the request count does not grow with the number of
// services (DESIGN §7.5). I/O only through the client interfaces.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "clients/chronos_client.h"
#include "clients/consul_client.h"
#include "clients/marathon_client.h"
#include "model/live_state.h"

namespace galley::engine {

struct ObserveScope {
  std::vector<std::string> app_prefixes;  // "/app/production/"
  std::vector<std::string> kv_prefixes;   // "app/production/", "galley/<platform>/applied/"
  std::vector<std::string> exact_keys;    // "service/haproxy/maxconn", "galley/<platform>/hmac-key"
};

// Fails with the first client error (it names the endpoint), Marathon's before Consul's;
// nothing partial is returned. The app listing is read on a second thread while Consul is
// read (the two clients are distinct and thread-safe).
Result<model::LiveState> Observe(clients::MarathonClient& marathon, clients::ConsulClient& consul,
                                 const ObserveScope& scope);

// The two halves of Observe, for callers that overlap their own work with the app listing
// (the largest read: 18 MB at 2,000 services x 3 environments). ObserveApps: the apps under
// the scope's prefixes, sorted by id, and the requests it took. ObserveKv: the keys under the
// prefixes and the exact keys into live->kv (kv_index, requests added).
struct ObservedApps {
  std::vector<model::LiveApp> apps;
  int requests = 0;
};
Result<ObservedApps> ObserveApps(clients::MarathonClient& marathon, const ObserveScope& scope);
Status ObserveKv(clients::ConsulClient& consul, const ObserveScope& scope, model::LiveState* live);
// Adds what ObserveApps returned to `live` (apps by id, requests).
void AddApps(ObservedApps&& apps, model::LiveState* live);

// Chronos' jobs (issue #16) into live->jobs, by name: one request (GET /v1/scheduler/jobs),
// added to live->requests; live->jobs_observed set. Fails with the client's error (it names
// Chronos' URL), leaving `live` as it was.
Status ObserveJobs(clients::ChronosClient& chronos, model::LiveState* live);

}  // namespace galley::engine
