// SPDX-License-Identifier: Apache-2.0
// SimulatedJobRunner: a marathon::TaskRunner for Chronos jobs without processes. A run goes
// TASK_RUNNING after a short start delay, then TASK_FINISHED after `run_time` — or
// TASK_FAILED when the job asks for it. What a run does is read from its environment (the
// job's environmentVariables), so a test declares a failing migration in the job itself:
//   GALLEY_SANDBOX_JOB_FAIL=1          the run fails (exit code 1)
//   GALLEY_SANDBOX_JOB_DURATION_MS=N   the run takes N ms (-1: it never ends until killed)
// and a command that is exactly `false` or `exit N` (N ≠ 0) fails as well.
// (`--tasks process` uses Marathon's process runner instead: real processes, exit codes.)
// One timer thread; the listener is called from it without the runner's lock. Thread-safe.
#pragma once

#include <chrono>
#include <memory>

#include "sandbox/marathon/task_runner.h"

namespace galley::sandbox::chronos {

struct SimulatedJobOptions {
  std::chrono::milliseconds start_delay{50};
  std::chrono::milliseconds run_time{500};
};

std::unique_ptr<marathon::TaskRunner> NewSimulatedJobRunner(const SimulatedJobOptions& options);

// True when a simulated run of this spec fails (the rules above). Pure.
bool SimulatedRunFails(const marathon::TaskSpec& spec);

}  // namespace galley::sandbox::chronos
