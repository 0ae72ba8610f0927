// SPDX-License-Identifier: Apache-2.0
// SimulatedRunner: a TaskRunner without processes, for tests and scale (10,000 tasks on one
// thread). Launch → TASK_STAGING, TASK_RUNNING after start_delay, healthy after
// health_delay when the task has health checks (results are empty until then), kill →
// TASK_KILLING then TASK_KILLED after kill_delay. SetAppHealthy(app, false) makes an app's
// tasks (and future ones) fail their checks: one failed check per health_delay, so a task
// reaches maxConsecutiveFailures after that many periods and the emulator replaces it.
// One scheduler thread with a timer queue; the listener is called from it without any
// runner lock held. Thread-safe.
#pragma once

#include <string>

#include "sandbox/marathon/task_runner.h"

namespace galley::sandbox::marathon {

class SimulatedRunner : public TaskRunner {
 public:
  // Marks every task of `app_id` (current and future) as passing or failing health checks.
  virtual void SetAppHealthy(const std::string& app_id, bool healthy) = 0;
  // Number of tasks the runner currently tracks (for tests).
  virtual size_t TaskCount() const = 0;
};

}  // namespace galley::sandbox::marathon
