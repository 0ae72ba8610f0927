// SPDX-License-Identifier: Apache-2.0
// The reconcile worker's coalescing queue (DESIGN §8 point 15). Triggers (a push naming a
// commit, the timer, a manual request, a drift signal) become at most one pending
// reconcile: whatever arrives while one is pending merges into it, so a burst of pushes
// while a reconcile runs becomes exactly one more run, of the newest commit. A reconcile
// made only of pushes also settles first: it is handed out once no push came for
// `push_quiet` (at most `push_max_delay` after its first push), so a burst of pushes
// (a webhook storm, a merge train) becomes one reconcile even when reconciles are quick.
// Any other trigger (timer, manual, drift, start) makes it ready at once. Pure: no threads
// of its own. Thread-safe: every method may be called from any thread.
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
  std::chrono::steady_clock::time_point first_push, last_push;  // when only pushes merged
};

struct TriggerQueueOptions {
  std::chrono::milliseconds push_quiet{0};  // 0: pushes are ready at once
  std::chrono::milliseconds push_max_delay{std::chrono::seconds(30)};
};

// When `p` may be handed out: at once (time_point::min()) unless it holds only pushes and
// `options.push_quiet` is set; then `push_quiet` after its last push, capped at
// `push_max_delay` after its first.
std::chrono::steady_clock::time_point ReadyAt(const PendingReconcile& p,
                                              const TriggerQueueOptions& options);

class TriggerQueue {
 public:
  TriggerQueue() = default;
  explicit TriggerQueue(TriggerQueueOptions options) : options_(options) {}

  // Adds a trigger: queued, or merged into the pending reconcile. False once closed.
  bool Push(ReconcileTrigger t);
  // Takes the pending reconcile once it is ready (ReadyAt), waiting up to `wait`; nullopt
  // when none was ready in time or the queue is closed.
  std::optional<PendingReconcile> Take(std::chrono::milliseconds wait);
  // Takes the pending reconcile if it is ready, without waiting.
  std::optional<PendingReconcile> TryTake();
  // No more triggers are taken; Take returns at once.
  void Close();
  bool closed() const;
  bool pending() const;
  uint64_t accepted() const;  // triggers pushed since construction
  uint64_t taken() const;     // reconciles handed out

 private:
  const TriggerQueueOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<PendingReconcile> pending_;
  bool closed_ = false;
  uint64_t accepted_ = 0, taken_ = 0;
};

}  // namespace galley::server
