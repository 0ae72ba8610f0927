// SPDX-License-Identifier: Apache-2.0
// The reconcile worker's coalescing queue (DESIGN §8 point 15). Triggers (a push naming a
// commit, the timer, a manual request, a drift signal) become at most one pending
// reconcile: whatever arrives while one is pending merges into it, so a burst of pushes
// while a reconcile runs becomes exactly one more run, of the newest commit. Pure: no
// threads of its own. Thread-safe: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace galley::server {

enum class TriggerKind { kPush, kTimer, kManual, kDrift, kStart };
const char* TriggerKindName(TriggerKind k);  // "push", "timer", "manual", "drift", "start"

struct ReconcileTrigger {
  TriggerKind kind = TriggerKind::kTimer;
  std::string commit;  // a push's commit ("" when the trigger names none: fetch the branch)
  std::string source;  // who asked, for the log ("github delivery 1234", "timer")
};

// One pending reconcile: every trigger merged into it since it was queued.
struct PendingReconcile {
  std::vector<TriggerKind> kinds;  // each kind once, in arrival order
  std::string commit;              // the newest push's commit; "" when none named one
  int triggers = 0;                // how many triggers were merged
};

class TriggerQueue {
 public:
  // Adds a trigger: queued, or merged into the pending reconcile. False once closed.
  bool Push(ReconcileTrigger t);
  // Takes the pending reconcile, waiting up to `wait` for one; nullopt when none came or the
  // queue is closed.
  std::optional<PendingReconcile> Take(std::chrono::milliseconds wait);
  // Takes the pending reconcile without waiting.
  std::optional<PendingReconcile> TryTake();
  // No more triggers are taken; Take returns at once.
  void Close();
  bool closed() const;
  bool pending() const;
  uint64_t accepted() const;  // triggers pushed since construction
  uint64_t taken() const;     // reconciles handed out

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<PendingReconcile> pending_;
  bool closed_ = false;
  uint64_t accepted_ = 0, taken_ = 0;
};

}  // namespace galley::server
