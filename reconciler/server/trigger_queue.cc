// SPDX-License-Identifier: Apache-2.0
#include "server/trigger_queue.h"

#include <algorithm>

namespace galley::server {

const char* TriggerKindName(TriggerKind k) {
  switch (k) {
    case TriggerKind::kPush:
      return "push";
    case TriggerKind::kTimer:
      return "timer";
    case TriggerKind::kManual:
      return "manual";
    case TriggerKind::kDrift:
      return "drift";
    case TriggerKind::kStart:
      return "start";
  }
  return "unknown";
}

std::chrono::steady_clock::time_point ReadyAt(const PendingReconcile& p,
                                              const TriggerQueueOptions& options) {
  using Clock = std::chrono::steady_clock;
  bool only_pushes =
      !p.kinds.empty() && std::all_of(p.kinds.begin(), p.kinds.end(),
                                      [](TriggerKind k) { return k == TriggerKind::kPush; });
  if (!only_pushes || options.push_quiet.count() <= 0) return Clock::time_point::min();
  return std::min(p.last_push + options.push_quiet, p.first_push + options.push_max_delay);
}

bool TriggerQueue::Push(ReconcileTrigger t) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return false;
    ++accepted_;
    if (!pending_) pending_.emplace();
    PendingReconcile& p = *pending_;
    if (t.kind == TriggerKind::kPush) {
      auto now = std::chrono::steady_clock::now();
      if (p.first_push == std::chrono::steady_clock::time_point{}) p.first_push = now;
      p.last_push = now;
    }
    if (std::find(p.kinds.begin(), p.kinds.end(), t.kind) == p.kinds.end())
      p.kinds.push_back(t.kind);
    // The newest commit wins: pushes arrive in the order the remote took them.
    if (!t.commit.empty()) p.commit = std::move(t.commit);
    ++p.triggers;
  }
  cv_.notify_all();
  return true;
}

std::optional<PendingReconcile> TriggerQueue::Take(std::chrono::milliseconds wait) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + wait;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (closed_) return std::nullopt;
    Clock::time_point now = Clock::now();
    if (pending_) {
      Clock::time_point ready = ReadyAt(*pending_, options_);
      if (ready <= now) break;
      if (now >= deadline) return std::nullopt;
      // Woken early by another trigger (which may make it ready at once) or by Close.
      cv_.wait_until(lock, std::min(ready, deadline));
    } else {
      if (now >= deadline) return std::nullopt;
      cv_.wait_until(lock, deadline);
    }
  }
  std::optional<PendingReconcile> out = std::move(pending_);
  pending_.reset();
  ++taken_;
  return out;
}

std::optional<PendingReconcile> TriggerQueue::TryTake() {
  return Take(std::chrono::milliseconds(0));
}

void TriggerQueue::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool TriggerQueue::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

bool TriggerQueue::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.has_value();
}

uint64_t TriggerQueue::accepted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_;
}

uint64_t TriggerQueue::taken() const {
  std::lock_guard<std::mutex> lock(mu_);
  return taken_;
}

}  // namespace galley::server
