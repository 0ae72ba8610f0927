// SPDX-License-Identifier: Apache-2.0
// Notifications for `galley serve` (issue #13), on transitions only: new drift, drift
// resolved, apply failed, apply recovered, flapping, leader change.
//   - DetectTransitions is pure: the state after the previous reconcile and after this one →
//     the events between them (a resource still drifted, or still failing, says nothing new).
//   - Notifier sends them from its own thread through a bounded queue, so the reconcile never
//     waits: Notify takes a short lock, and a full queue drops its oldest delivery (counted).
//     Each event goes to every target: a generic JSON webhook (body signed with
//     `X-Galley-Signature: sha256=<hex HMAC-SHA256 of the body>`, the same scheme as galley's
//     own /hooks/generic, plus X-Galley-Event and X-Galley-Delivery) and/or a Slack-compatible
//     incoming webhook (`{"text": …}`). A transport error, a 5xx or a 429 is retried with
//     exponential backoff (initial_backoff doubling up to max_backoff; a 429's Retry-After in
//     seconds lengthens the wait, capped the same way) up to max_attempts; another status
//     gives up at once. Target URLs (a Slack URL is itself a secret) never reach the log:
//     targets are named "json#1", "slack#2".
// Time goes through base/clock.h (backoff waits are Clock::Sleep in slices of at most 100 ms
// so Stop is prompt); HTTP through net::HttpClient.
// Thread-safety: Notify, stats and Stop may be called from any thread. The client and the
// clock must outlive the Notifier.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "net/http_client.h"

namespace galley::server {

enum class NotifyKind {
  kDriftNew,
  kDriftResolved,
  kApplyFailed,
  kApplyRecovered,
  kFlapping,
  kLeaderChange,
};

// "drift_new", "drift_resolved", "apply_failed", "apply_recovered", "flapping",
// "leader_change": the JSON payload's "event" and X-Galley-Event.
const char* NotifyKindName(NotifyKind kind);

struct NotifyEvent {
  NotifyKind kind = NotifyKind::kDriftNew;
  std::string resource;  // resource key ("marathon-app:/prod/web"); "" for leader changes
  std::string detail;    // drift summary, the apply error, "a → b" for the leader
  std::chrono::system_clock::time_point time;
};

// What the serve core knows after a reconcile, as the detector compares it.
struct NotifyState {
  std::map<std::string, std::string> drift;   // drifted resource → summary
  std::map<std::string, std::string> failed;  // resource whose last apply failed → error
  std::set<std::string> flapping;
  std::string leader;  // the leader's identity ("host:port"); "" when none is known
};

// The transitions from `before` to `after`, in a fixed order (kind, then resource): drift
// that appears / disappears, applies that start / stop failing, resources that start
// flapping, and a leader change (either side may be "none").
std::vector<NotifyEvent> DetectTransitions(const NotifyState& before, const NotifyState& after,
                                           std::chrono::system_clock::time_point now);

// One line for people: "galley prod: new drift on marathon-app:/prod/web: instances 3 → 5".
std::string NotifyText(std::string_view platform, const NotifyEvent& event);

struct NotifyTarget {
  enum class Kind { kJson, kSlack };
  Kind kind = Kind::kJson;
  std::string url;
  std::string secret;  // kJson: the HMAC key (required); kSlack: unused (the URL is the secret)
};

// OK when every URL is http(s):// and every JSON target has a secret; else kInvalidArgument
// naming the target by its number ("json#1"), never by its URL.
Status CheckNotifyTargets(const std::vector<NotifyTarget>& targets);

struct NotifierOptions {
  std::vector<NotifyTarget> targets;
  std::string platform;          // in every payload and text
  size_t queue_capacity = 1000;  // deliveries (event × target) waiting
  int max_attempts = 6;
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{60000};
  std::chrono::milliseconds request_timeout{10000};
  Clock* clock = nullptr;                       // null: the real clock
  std::function<void(const std::string&)> log;  // one line per give-up and per drop
  // Results as they happen ("sent", "failed", "dropped"), e.g. ServeMetrics::Notification.
  std::function<void(std::string_view result)> count;
};

struct NotifierStats {
  uint64_t queued = 0;   // deliveries accepted by Notify
  uint64_t sent = 0;     // answered 2xx
  uint64_t failed = 0;   // gave up (permanent status or attempts exhausted)
  uint64_t dropped = 0;  // pushed out of a full queue, or left unsent at Stop
  uint64_t retries = 0;  // attempts after the first
  size_t pending = 0;    // waiting or being sent now
};

// The bodies, exposed for tests and for receivers' documentation.
// JSON: {"platform","event","resource","detail","time","text"}.
std::string NotifyJsonBody(std::string_view platform, const NotifyEvent& event);
// Slack: {"text": …} with &, < and > escaped as Slack requires.
std::string NotifySlackBody(std::string_view platform, const NotifyEvent& event);

class Notifier {
 public:
  Notifier(net::HttpClient& client, NotifierOptions options);
  ~Notifier();  // Stop()
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Queues each event for every target; never blocks on I/O.
  void Notify(const std::vector<NotifyEvent>& events);
  void Notify(const NotifyEvent& event) { Notify(std::vector<NotifyEvent>{event}); }
  // Stops after the attempt in flight (a backoff wait is cut short); what is still queued is
  // dropped and counted. Idempotent.
  void Stop();
  NotifierStats stats() const;

 private:
  struct Delivery {
    NotifyEvent event;
    size_t target = 0;
  };
  void Run();
  void Deliver(const Delivery& d);
  void Count(std::string_view result);

  net::HttpClient& client_;
  const NotifierOptions options_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Delivery> queue_;
  bool stopping_ = false;
  bool busy_ = false;
  NotifierStats stats_;
  std::thread thread_;
};

}  // namespace galley::server
