// SPDX-License-Identifier: Apache-2.0
// What galley saw live, as plain values: Marathon apps (the body as Marathon returned it,
// plus the tokens a plan is made against) and Consul KV entries with their ModifyIndex.
// Produced by clients/, stored by store/, compared by engine/. Values; not synchronised.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace galley::model {

struct LiveTask {
  std::string id;
  std::string host;
  std::vector<int> ports;
  std::string state;     // "TASK_RUNNING", ...
  std::string version;   // the app version the task runs
  bool healthy = false;  // every health check result alive (false when it has none)
};

struct LiveApp {
  std::string id;  // "/app/production/test-server"
  nlohmann::json
      body;  // the app as GET returned it, minus tasks/deployments/counts/lastTaskFailure
  std::string version;                // app "version": the token an update is planned against
  std::string last_config_change_at;  // versionInfo.lastConfigChangeAt, when reported
  int instances = 0;
  int tasks_running = 0;
  int tasks_healthy = 0;
  int tasks_staged = 0;
  std::vector<std::string> deployment_ids;  // deployments touching the app now
  std::vector<LiveTask> tasks;
};

struct LiveKvEntry {
  std::string key;
  std::string value;  // decoded bytes
  uint64_t modify_index = 0;
  uint64_t flags = 0;
  std::string session;  // lock holder, when locked
};

// Everything one observation saw under the managed prefixes.
struct LiveState {
  std::map<std::string, LiveApp> apps;    // by id
  std::map<std::string, LiveKvEntry> kv;  // by key
  uint64_t kv_index = 0;                  // X-Consul-Index of the KV reads (the newest)
  int requests = 0;                       // HTTP requests the observation took
  // Chronos jobs (issue #16), by name, as GET /v1/scheduler/jobs returned them; only when a
  // Chronos endpoint is configured (jobs_observed), one request.
  std::map<std::string, nlohmann::json> jobs;
  bool jobs_observed = false;
};

}  // namespace galley::model
