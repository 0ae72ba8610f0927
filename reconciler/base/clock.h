// SPDX-License-Identifier: Apache-2.0
// galley's one clock seam: monotonic time for deadlines and durations, wall time for
// timestamps and lease expiry, and sleeping. Everything that waits or stamps takes a Clock
// (null meaning RealClock()), so tests drive time with one fake (tests/support/fake_clock.h)
// instead of a function pair per module.
// The real clock is stateless and thread-safe; a Clock passed in must outlive its users.
#pragma once

#include <chrono>
#include <thread>

namespace galley {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point Now() { return std::chrono::steady_clock::now(); }
  virtual std::chrono::system_clock::time_point WallNow() {
    return std::chrono::system_clock::now();
  }
  virtual void Sleep(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }
};

// The process's real clock.
inline Clock& RealClock() {
  static Clock real;
  return real;
}

// `clock`, or the real one when null.
inline Clock& ClockOr(Clock* clock) { return clock ? *clock : RealClock(); }

}  // namespace galley
