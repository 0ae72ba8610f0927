// SPDX-License-Identifier: Apache-2.0
#include "server/leader.h"

#include <algorithm>

namespace galley::server {

LeaderElector::LeaderElector(clients::ConsulClient& consul, LeaderOptions options)
    : consul_(consul), options_(std::move(options)) {}

void LeaderElector::Lose(const std::string& why) {
  if (leader_.exchange(false)) {
    ++transitions_;
    if (log) log("leadership lost: " + why);
  }
  session_.clear();  // a fresh session next time: this one is gone or untrusted
}

bool LeaderElector::Tick(Clock::time_point now) {
  const auto ttl = std::chrono::seconds(options_.ttl_seconds);
  if (leader_.load()) {
    if (now < next_) return true;
    Status renewed = consul_.RenewSession(session_);
    if (renewed.ok()) {
      last_renewed_ = now;
      next_ = now + ttl / 3;
      return true;
    }
    if (renewed.code() == StatusCode::kNotFound) {
      Lose("the session expired");
    } else if (now - last_renewed_ >= ttl) {
      Lose("no renewal for " + std::to_string(options_.ttl_seconds) + "s (" + renewed.message() +
           ")");
    } else {
      next_ = now + options_.retry;  // retry soon; still within the TTL
      return true;
    }
    next_ = now + options_.retry;
    return false;
  }
  if (now < next_) return false;
  next_ = now + options_.retry;
  if (session_.empty()) {
    clients::SessionOptions so;
    so.name = "galley serve leader " + options_.holder;
    so.ttl_seconds = options_.ttl_seconds;
    so.lock_delay_seconds = 0;
    so.behavior = "release";
    auto s = consul_.CreateSession(so);
    if (!s.ok()) return false;
    session_ = *s;
    last_renewed_ = now;
  } else if (now - last_renewed_ >= ttl / 3) {
    // Keep the follower's session alive between attempts too.
    Status renewed = consul_.RenewSession(session_);
    if (!renewed.ok()) {
      session_.clear();
      return false;
    }
    last_renewed_ = now;
  }
  // A cheap read first: while another live session holds the key, a follower does not write
  // (an acquire is a Raft write), so it can look often and take over as soon as the dead
  // leader's session is invalidated.
  auto held = consul_.GetKv(key());
  if (held.ok() && !held->session.empty() && held->session != session_) return false;
  auto got = consul_.AcquireLock(key(), options_.holder, session_);
  if (!got.ok() || !*got) return false;
  leader_ = true;
  ++transitions_;
  last_renewed_ = now;
  next_ = now + ttl / 3;
  if (log) log("leader of platform '" + options_.platform + "' (" + key() + ")");
  return true;
}

void LeaderElector::Release() {
  if (session_.empty()) return;
  if (leader_.exchange(false)) {
    ++transitions_;
    (void)consul_.ReleaseLock(key(), session_);  // the session's destruction releases it too
    if (log) log("leadership released");
  }
  (void)consul_.DestroySession(session_);  // best effort: it expires within the TTL anyway
  session_.clear();
}

LeaderLoop::LeaderLoop(LeaderElector& elector, std::function<void(bool)> on_change)
    : elector_(elector), on_change_(std::move(on_change)) {
  thread_ = std::thread([this] {
    bool was = false;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      bool now = elector_.Tick(LeaderElector::Clock::now());
      if (now != was && on_change_) on_change_(now);
      was = now;
      lock.lock();
      auto due = std::max(elector_.next_due(),
                          LeaderElector::Clock::now() + std::chrono::milliseconds(50));
      cv_.wait_until(lock, due, [this] { return stop_; });
    }
    lock.unlock();
    elector_.Release();
    if (was && on_change_) on_change_(false);
  });
}

LeaderLoop::~LeaderLoop() { Stop(); }

void LeaderLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace galley::server
