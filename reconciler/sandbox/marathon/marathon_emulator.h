// SPDX-License-Identifier: Apache-2.0
// The Marathon REST API v2 emulator (1.5+ field set): apps with server defaults filled in,
// versions and rollback, deployments that honour upgradeStrategy, tasks on a TaskRunner,
// groups, the event stream, and Marathon's exact error shapes. See
// reconciler/sandbox/README.md for what is emulated and where it deliberately differs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sandbox/common/emulator.h"
#include "sandbox/marathon/task_runner.h"

namespace galley::sandbox::marathon {

// One emulated Mesos agent: tasks placed on it report `host` = name (the agent's hostname,
// as in Marathon) and get HOST = address, the loopback address they bind and are
// health-checked on.
struct MarathonNode {
  std::string name;
  std::string address;
};

struct MarathonOptions {
  std::string hostname = "127.0.0.1";
  uint16_t http_port = 8080;          // reported by /v2/info and /v2/leader; set once bound
  int max_running_deployments = 100;  // --max_running_deployments: beyond it, 403
  // Marathon's --local_port_min / --local_port_max: servicePorts of 0 are assigned from
  // [first_service_port, last_service_port) (Marathon's range excludes the maximum).
  int first_service_port = 10000;
  int last_service_port = 20000;
  int first_host_port = 31000;  // host ports handed to tasks
  int last_host_port = 32999;
  std::string http_credentials;  // "user:password": basic auth required when set
  // The emulated cluster's size: at most this many tasks exist at once. Instances beyond it
  // wait, as on a Mesos cluster without free offers (the deployment stays in progress).
  int max_tasks = 20000;
  // Tasks launched per engine pass at most (Marathon launches from offers, a few at a time),
  // so a huge scale-up never holds the emulator's lock for long.
  int launches_per_pass = 1000;
  // The emulated agents. Empty: one agent named and addressed `hostname`, as before nodes
  // existed. Tasks go to the least-loaded node that satisfies the app's hostname constraints
  // (UNIQUE, CLUSTER, IS, LIKE, UNLIKE, MAX_PER, GROUP_BY); with none left they wait.
  std::vector<MarathonNode> nodes;
};

// The emulator owns the runner and shuts it down on Stop().
std::unique_ptr<Emulator> NewMarathonEmulator(const MarathonOptions& options,
                                              std::unique_ptr<TaskRunner> runner);

}  // namespace galley::sandbox::marathon
