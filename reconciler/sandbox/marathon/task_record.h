// SPDX-License-Identifier: Apache-2.0
// TaskRecord: what the emulator knows about one task (Marathon's instance + task), how it
// is written as a Task object (reference §6.4), and how a TaskSpec for the runner is built
// from an app (Marathon/Mesos task environment: PORT0..n, PORT, PORTS, PORT_<NAME>, HOST,
// MARATHON_APP_*, MESOS_TASK_ID, labels, then the app's env). Values; not synchronised.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sandbox/marathon/task_runner.h"
#include "sandbox/marathon/util.h"

namespace galley::sandbox::marathon {

struct TaskRecord {
  std::string id;           // "app_x.instance-<uuid>._app.1"
  std::string instance_id;  // "app_x.instance-<uuid>"
  std::string app_id;
  std::string version;      // app version the task was started from
  uint64_t generation = 0;  // app config generation at launch (older = outdated)
  uint64_t launch_seq = 0;  // launch order, for killSelection
  std::string host;         // the node's name
  std::string address;      // the node's address (ipAddresses, HOST)
  size_t node = 0;          // index into the emulator's nodes
  std::string agent_id;     // slaveId of the node
  std::vector<int> host_ports;
  TaskState state = TaskState::kStaging;
  std::string staged_at;
  std::string started_at;
  std::vector<HealthResult> health;
  bool has_health_checks = false;
  bool kill_requested = false;
  bool killed_unhealthy = false;
  std::chrono::steady_clock::time_point running_since{};
  // Serialised Task object; reset whenever anything above or the app's service ports change.
  mutable std::shared_ptr<const std::string> json;

  bool Active() const { return !kill_requested && state != TaskState::kKilling; }
  bool Running() const { return state == TaskState::kRunning; }
  // All health results alive (false without results).
  bool Healthy() const;
  bool HasHealthInfo() const { return !health.empty(); }
  // Counts toward a deployment: running, and healthy when the app has health checks.
  bool Ready() const { return Active() && Running() && (!has_health_checks || Healthy()); }
};

// The Task object (1.5+): id, appId, host, slaveId, state, ports, servicePorts,
// ipAddresses, stagedAt, startedAt (once running), version, healthCheckResults.
std::shared_ptr<const std::string> TaskJson(const TaskRecord& t,
                                            const std::vector<int>& service_ports);

// Builds the runner's TaskSpec for a new task of `app` (a normalised app definition).
TaskSpec BuildTaskSpec(const Json& app, const TaskRecord& t);

inline constexpr char kSlaveId[] = "galley-sandbox-agent-S0";

}  // namespace galley::sandbox::marathon
