// SPDX-License-Identifier: Apache-2.0
// TaskRunner: where the Marathon emulator's tasks run. The emulator decides what runs
// (ports, environment, command, health checks); a runner starts it, reports state and
// health changes through the listener, and kills it (SIGTERM, then SIGKILL after the kill
// grace period for real processes). Two implementations: a simulated runner (no processes;
// tasks turn healthy after a delay; for scale) and a process runner (real local processes,
// real HTTP health checks). Thread-safe: all methods may be called from any thread; the
// listener is called from the runner's own threads and must not call back into the runner
// while holding its own locks in a way that can deadlock (post work instead).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace galley::sandbox::marathon {

struct HealthCheckSpec {
  std::string protocol = "HTTP";  // HTTP, HTTPS, TCP, MESOS_HTTP, MESOS_TCP, COMMAND
  std::string path = "/";
  int port_index = 0;
  int grace_period_seconds = 300;
  int interval_seconds = 60;
  int timeout_seconds = 20;
  int max_consecutive_failures = 3;
};

struct TaskSpec {
  std::string app_id;   // "/app/production/test-server"
  std::string task_id;  // "app_production_test-server.<uuid>" as Marathon forms it
  std::string version;  // the app version the task runs
  std::string host;     // the node's name (Marathon's `host`: the agent hostname)
  std::string address;  // the node's address: where the task binds and is health-checked
  std::vector<int> host_ports;
  // What to run, already resolved by the emulator from cmd / args / container.
  std::optional<std::string> cmd;  // Marathon's `cmd` (a shell-words string)
  std::vector<std::string> args;   // Marathon's `args`
  std::string docker_image;        // empty for non-Docker apps
  std::map<std::string, std::string>
      env;  // app env plus PORT0.., PORT, PORTS, HOST, MARATHON_APP_ID, MESOS_TASK_ID, ...
  std::vector<HealthCheckSpec> health_checks;
  int kill_grace_seconds =
      3;  // taskKillGracePeriodSeconds (Marathon has none by default; Mesos' is short)
};

enum class TaskState { kStaging, kStarting, kRunning, kKilling, kKilled, kFailed, kFinished };
const char* MesosStateName(TaskState s);  // "TASK_RUNNING", ...

struct HealthResult {
  bool alive = false;
  int consecutive_failures = 0;
  std::string first_success;  // ISO-8601 UTC with milliseconds, empty when never
  std::string last_success;
  std::string last_failure;
  std::string last_failure_cause;
};

struct TaskStatus {
  TaskState state = TaskState::kStaging;
  std::string staged_at;             // ISO-8601 UTC
  std::string started_at;            // empty until running
  std::vector<HealthResult> health;  // one per health check, in spec order; empty without checks
  std::string message;               // why it failed / finished, for lastTaskFailure
};

class TaskRunner {
 public:
  using Listener = std::function<void(const std::string& task_id, const TaskStatus& status)>;
  virtual ~TaskRunner() = default;
  // REQUIRES: called once, before Launch.
  virtual void SetListener(Listener listener) = 0;
  // Starts a task; state changes arrive through the listener. Fails when the task cannot be
  // started at all (then no listener call is made).
  virtual Status Launch(const TaskSpec& spec) = 0;
  // Asks a task to stop: kKilling, then kKilled once gone. Unknown ids are ignored.
  virtual void Kill(const std::string& task_id) = 0;
  virtual std::optional<TaskStatus> Get(const std::string& task_id) const = 0;
  // Kills every task and stops the runner's threads; waits at most the longest kill grace.
  virtual void Shutdown() = 0;
};

struct SimulatedRunnerOptions {
  std::chrono::milliseconds start_delay{100};    // staging → running
  std::chrono::milliseconds health_delay{1000};  // running → healthy (DESIGN §7.8: 1 s default)
  std::chrono::milliseconds kill_delay{100};     // killing → killed
};
std::unique_ptr<TaskRunner> NewSimulatedRunner(const SimulatedRunnerOptions& options);

struct ProcessRunnerOptions {
  // "registry.local/test-server:*" → "galley-testserver": what a Docker image runs when the
  // app gives no args/cmd. Patterns may end in '*'.
  std::vector<std::pair<std::string, std::string>> image_map;
  // "service-wrapper.sh" → "galley-wrapper": applied to every argument equal to the name.
  std::map<std::string, std::string> exec_alias;
  // "dockerhost" → "127.0.0.1": replaced inside every argument and environment value.
  std::map<std::string, std::string> host_alias;
  std::string log_dir;  // each task's stdout/stderr go to <log_dir>/<task_id>.log; empty: /dev/null
};
std::unique_ptr<TaskRunner> NewProcessRunner(const ProcessRunnerOptions& options);

}  // namespace galley::sandbox::marathon
