// SPDX-License-Identifier: Apache-2.0
// The Chronos 3.x REST API emulator (`galley-sandbox --chronos-port P`): the job API under
// /v1/scheduler/ with Chronos' status codes (204 for mutations, 400 for "not found" and
// validation, 500 where Chronos throws something else), its JSON shapes and messages
// (shared/reference/chronos-api.md), jobs run on a marathon::TaskRunner (simulated or real
// processes), schedules evaluated on the sandbox clock. What differs from real Chronos is
// listed in README.md next to this file.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/clock.h"
#include "sandbox/chronos/core.h"
#include "sandbox/common/emulator.h"
#include "sandbox/marathon/task_runner.h"

namespace galley::sandbox::chronos {

struct ChronosOptions {
  std::string hostname = "127.0.0.1";
  uint16_t http_port = 4400;  // reported by /v1/scheduler/leader; set once bound
  CoreOptions core;
  // How often the scheduler loop looks at the clock (Chronos sleeps until the next start;
  // the emulator polls so a fake or real clock both work).
  std::chrono::milliseconds tick{50};
  Clock* clock = nullptr;  // null: the real clock
};

class ChronosEmulator : public Emulator {
 public:
  // Runs the scheduler once at the clock's current time (tests with a fake clock).
  virtual void TickNow() = 0;
};

// The emulator owns the runner and shuts it down on Stop().
std::unique_ptr<ChronosEmulator> NewChronosEmulator(const ChronosOptions& options,
                                                    std::unique_ptr<marathon::TaskRunner> runner);

}  // namespace galley::sandbox::chronos
