// SPDX-License-Identifier: Apache-2.0
// Leadership among several `galley serve` of one platform (DESIGN §8 point 15): a Consul
// session lock at `galley/<platform>/leader` (behavior release, lock-delay 0, renewed every
// TTL/3; the server's TTL is 10 s, since Consul may keep a dead holder's session up to
// 2 × TTL). Only the leader reconciles; the others serve the API read-only
// and look at the key every 250 ms (a read; they write only when it is free), so one takes
// over within 2 × TTL of the leader's last renewal. The
// platform lock (`galley/<platform>/lock`) is still taken by every apply.
//
// A state machine driven by Tick(now) with time passed in, so tests run it against a fake
// Consul and a fake clock; LeaderLoop runs it on a thread. Leadership is lost (and said so)
// when a renewal says the session is gone, or when TTL has passed since the last renewal
// that succeeded (a stuck Consul must not leave two leaders).
// Not thread-safe: one thread calls Tick and Release; `leader()` is atomic for any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "clients/consul_client.h"

namespace galley::server {

struct LeaderOptions {
  std::string platform;
  std::string holder;  // who this is, stored as the key's value ("serve user@host pid 12")
  int ttl_seconds = 15;
  // Between attempts while a follower: a read of the key (an acquire only when nobody
  // holds it), so a standby takes over within this much of the session's invalidation.
  std::chrono::milliseconds retry{250};
};

class LeaderElector {
 public:
  using Clock = std::chrono::steady_clock;
  LeaderElector(clients::ConsulClient& consul, LeaderOptions options);

  // One step: a follower creates a session (once) and tries to acquire; a leader renews when
  // due. Returns whether this is the leader afterwards. `log` gets one line per transition.
  bool Tick(Clock::time_point now);
  // Gives leadership up: releases the key and destroys the session. Idempotent.
  void Release();

  bool leader() const { return leader_.load(); }
  std::string key() const { return "galley/" + options_.platform + "/leader"; }
  const std::string& session() const { return session_; }
  uint64_t transitions() const { return transitions_; }
  // When the next Tick is due.
  Clock::time_point next_due() const { return next_; }
  std::function<void(const std::string&)> log;

 private:
  void Lose(const std::string& why);

  clients::ConsulClient& consul_;
  LeaderOptions options_;
  std::string session_;
  std::atomic<bool> leader_{false};
  Clock::time_point last_renewed_{}, next_{};
  uint64_t transitions_ = 0;
};

// Runs an elector on its own thread until Stop(), which releases leadership.
// `on_change(true|false)` is called from that thread at each transition.
class LeaderLoop {
 public:
  LeaderLoop(LeaderElector& elector, std::function<void(bool)> on_change);
  ~LeaderLoop();
  void Stop();

 private:
  LeaderElector& elector_;
  std::function<void(bool)> on_change_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace galley::server
