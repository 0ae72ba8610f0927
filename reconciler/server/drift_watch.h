// SPDX-License-Identifier: Apache-2.0
// Event-driven drift detection for `galley serve` (issue #13, DESIGN §8 point 15): besides
// the timer, a hand change is noticed within seconds.
//   - Marathon's event stream (clients/marathon_events.h: status updates, health changes,
//     and app-level changes: api_post_event, app_terminated_event, deployment events)
//     for the app ids under the managed prefixes: a scale, a restart or a redeploy by hand
//     moves tasks, and each such event is a signal. A reconnect is a signal too (what
//     happened while the stream was down is not replayed).
//   - One Consul blocking query per managed KV prefix (`/v1/kv/<prefix>?recurse&index=…`,
//     clients/consul_watch.h LongPoll; never one per key): every answer whose index moved
//     after the first is a signal.
// Signals are debounced (Debouncer: a burst becomes one trigger `debounce` after the last
// signal, and never later than `max_delay` after the first) and handed to `trigger`, which
// pushes a drift reconcile into the TriggerQueue (coalesced with anything pending). The
// reconcile then applies the drift policy: revert in `sync: auto` environments (the leader
// only), report elsewhere; a follower refreshes its read-only view the same way.
// The streams reconnect with backoff and never stop serve when Marathon or Consul are down.
// Thread-safe: SetScope from any thread (the worker calls it after each reconcile); Start
// and Stop from the owner.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "clients/consul_watch.h"
#include "clients/endpoints.h"
#include "clients/marathon_events.h"
#include "net/http_client.h"

namespace galley::server {

// Pure: when a burst of signals should fire. Not synchronised.
class Debouncer {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  Debouncer(std::chrono::milliseconds delay, std::chrono::milliseconds max_delay)
      : delay_(delay), max_delay_(max_delay) {}
  // A signal at `now`: the deadline moves to now + delay, capped at first signal + max_delay.
  void Signal(TimePoint now);
  // When the pending burst fires; nullopt when nothing is pending.
  std::optional<TimePoint> due() const { return due_; }
  // True (and the burst is over) when a burst is pending and due at `now`.
  bool Fire(TimePoint now);
  int signals() const { return signals_; }  // signals in the pending burst

 private:
  std::chrono::milliseconds delay_, max_delay_;
  std::optional<TimePoint> first_, due_;
  int signals_ = 0;
};

// Whether a Marathon app id is under one of the managed app-id prefixes ("/app/prod/").
bool ManagedApp(const std::string& app_id, const std::vector<std::string>& app_prefixes);
// The blocking query of one managed KV prefix: "/v1/kv/app/prod/?recurse".
std::string KvWatchTarget(const std::string& kv_prefix);

struct DriftWatchOptions {
  std::chrono::milliseconds debounce{300};
  std::chrono::milliseconds max_delay{2000};
  // Consul's ?wait= for each prefix's blocking query; also bounds how long Stop waits.
  std::chrono::milliseconds kv_wait{5000};
  bool marathon = true;  // follow Marathon's event stream
  bool consul = true;    // long-poll the managed KV prefixes
  std::function<void(const std::string& level, const std::string& line)> log;
};

class DriftWatch {
 public:
  // `trigger(why)` is called from the watch's own thread with what was seen (one per burst).
  DriftWatch(clients::Endpoints endpoints, DriftWatchOptions options,
             std::function<void(const std::string& why)> trigger);
  ~DriftWatch();  // Stop()
  DriftWatch(const DriftWatch&) = delete;
  DriftWatch& operator=(const DriftWatch&) = delete;

  void Start();
  // The managed prefixes now: a long poll for each new KV prefix, the dropped ones stopped;
  // Marathon events of apps under `app_prefixes` are signals. Cheap when nothing changed.
  void SetScope(const std::vector<std::string>& app_prefixes,
                const std::vector<std::string>& kv_prefixes);
  // Ends the stream and the polls (waits for requests in flight: at most kv_wait + slack).
  void Stop();

  uint64_t signals() const { return signals_.load(); }
  uint64_t triggers() const { return triggers_.load(); }

 private:
  void Signal(const std::string& why);
  void DebounceLoop();
  void MarathonLoop();
  void Log(const std::string& level, const std::string& line) const;

  const clients::Endpoints endpoints_;
  const DriftWatchOptions options_;
  std::function<void(const std::string&)> trigger_;
  std::unique_ptr<net::HttpClient> marathon_http_, consul_http_;
  std::unique_ptr<clients::MarathonEventSource> events_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> signals_{0}, triggers_{0};

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  Debouncer debouncer_;
  std::string first_why_;
  std::vector<std::string> app_prefixes_;
  std::map<std::string, std::unique_ptr<clients::LongPoll>> polls_;  // KV prefix → its poll
  std::vector<std::unique_ptr<clients::LongPoll>> retired_;          // asked to stop
  bool started_ = false;
  std::thread debounce_thread_, marathon_thread_;
};

}  // namespace galley::server
