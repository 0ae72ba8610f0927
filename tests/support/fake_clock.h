// SPDX-License-Identifier: Apache-2.0
// A fake Clock (base/clock.h) for tests: time moves only when a thread sleeps, and only for
// that thread. Each thread sees the shared base (Advance) plus what it has slept itself, so
// several workers following apps with their own deadlines never run each other's deadline
// out, and no test waits on real time. Thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>

#include "base/clock.h"

namespace galley::testing {

class FakeClock : public Clock {
 public:
  std::chrono::steady_clock::time_point Now() override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ThreadMs()));
  }
  // Wall time: a fixed epoch plus the same view as Now().
  std::chrono::system_clock::time_point WallNow() override {
    return wall_epoch + std::chrono::milliseconds(ThreadMs());
  }
  void Sleep(std::chrono::milliseconds d) override {
    std::lock_guard<std::mutex> l(mu_);
    slept_[std::this_thread::get_id()] += d.count();
    max_ms_ = std::max(max_ms_, base_ms_ + slept_[std::this_thread::get_id()]);
  }
  // Moves every thread's time on.
  void Advance(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> l(mu_);
    base_ms_ += d.count();
    max_ms_ = std::max(max_ms_, base_ms_);
  }
  // The furthest any thread's time has got, in ms since the start.
  int64_t max_ms() const {
    std::lock_guard<std::mutex> l(mu_);
    return max_ms_;
  }

  std::chrono::system_clock::time_point wall_epoch = std::chrono::system_clock::time_point(
      std::chrono::seconds(1714557600));  // 2024-05-01T10:00:00Z

 private:
  int64_t ThreadMs() const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = slept_.find(std::this_thread::get_id());
    return base_ms_ + (it == slept_.end() ? 0 : it->second);
  }
  mutable std::mutex mu_;
  int64_t base_ms_ = 0, max_ms_ = 0;
  std::map<std::thread::id, int64_t> slept_;
};

}  // namespace galley::testing
