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

bool TriggerQueue::Push(ReconcileTrigger t) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return false;
    ++accepted_;
    if (!pending_) pending_.emplace();
    PendingReconcile& p = *pending_;
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
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, wait, [this] { return closed_ || pending_.has_value(); });
  if (closed_ || !pending_) return std::nullopt;
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
