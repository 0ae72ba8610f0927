// SPDX-License-Identifier: Apache-2.0
// Waiting in tests for something another thread or process does. The limit only matters when
// the test is failing, so it is generous: sanitizer builds on a loaded 2-core machine are
// many times slower than a developer's laptop, and a tight limit there is a flaky test.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace galley::testing {

// Polls `pred` every 10 ms until it holds or `limit` passes; true when it held.
inline bool Eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

}  // namespace galley::testing
