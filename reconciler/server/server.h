// SPDX-License-Identifier: Apache-2.0
// `galley serve` assembled (DESIGN §8 point 15): the HTTP API on net::HttpServer behind a
// Router, the reconcile Worker fed by a TriggerQueue, the periodic timer with jitter, and
// leadership (leader.h). The CLI (cli/cmd_serve.cc) parses flags and builds a Server; tests
// build one directly.
//
// Endpoints: GET /healthz (the process is up), GET /readyz (a repository was loaded and
// Consul answers), GET /api/v1/{status,plan,drift,runs,runs/<id>,events,leader,flapping},
// GET /metrics (Prometheus, no token), and the token-protected POST /api/v1/reconcile,
// POST /api/v1/apply {"plan_id": "..."} and POST /api/v1/flapping/clear {"resource": "..."}
// (no resource: every one).
// Other pieces mount plain handlers with Mount() before Start(): webhooks (/hooks/...), the
// dashboard (/, /ui/..., /events). Until something is mounted there they answer 404 (a
// mounted hook path asked with another method: 405 with Allow).
//
// Observers of the worker (its RunReport after each reconcile): the metrics, the notifier
// (transitions only, from the leader; never blocking the worker: notify.h) and the drift
// watch (its scope: the managed prefixes).
//
// Thread-safe: Mount before Start; Start/Stop from the owning thread; the rest from any.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "clients/consul_client.h"
#include "net/http_server.h"
#include "server/drift_watch.h"
#include "server/git_source.h"
#include "server/leader.h"
#include "server/metrics.h"
#include "server/notify.h"
#include "server/router.h"
#include "server/trigger_queue.h"
#include "server/worker.h"

namespace galley::server {

struct ServerOptions {
  std::string listen_address = "127.0.0.1";
  uint16_t listen_port = 8480;                                  // 0: any free port (Server::port())
  std::chrono::milliseconds interval{std::chrono::minutes(3)};  // timer; 0: no timer
  double jitter = 0.1;    // each wait is interval × (1 ± jitter), uniformly
  std::string api_token;  // GALLEY_API_TOKEN; empty: write endpoints answer 403
  std::string platform;   // the platform's name (the leader key); from the repository
  std::string holder;     // who this server is, for the leader key and the platform lock
  // The leader's session TTL. Consul invalidates a session up to 2 × TTL after its last
  // renewal, so 10 s keeps a takeover within ~20 s of the leader's death.
  int leader_ttl_seconds = 10;
  std::chrono::milliseconds apply_wait{std::chrono::minutes(15)};  // POST /api/v1/apply
  // A burst of pushes settles into one reconcile (trigger_queue.h): 2 s after the last push,
  // at most 30 s after the first.
  TriggerQueueOptions queue{.push_quiet = std::chrono::seconds(2),
                            .push_max_delay = std::chrono::seconds(30)};
  WorkerOptions worker;
  LogFn log;
  // Notifications (notify.h); no targets: none sent. `notify_client`: null makes one
  // (net::NewHttpClient). Each target gets a Notifier of its own.
  NotifierOptions notify;
  net::HttpClient* notify_client = nullptr;
  // Event-driven drift (drift_watch.h); unset: the timer and triggers only.
  std::optional<clients::Endpoints> drift_watch;
  DriftWatchOptions drift_watch_options;
};

class Server {
 public:
  // `consul` is the leader election's client (no retries; a timeout under TTL/3); both
  // `source` and `consul` must outlive the Server.
  Server(RepositorySource& source, clients::ConsulClient& consul, ServerOptions options);
  ~Server();

  // Adds a handler for `method` ("*" for any) on every path under `path_prefix` (a path
  // ending in '/') or on exactly that path. Before Start().
  void Mount(const std::string& method, const std::string& path_prefix, net::HttpHandler handler);
  // Queues a reconcile (webhooks call this with a push's commit). False once stopping.
  bool Enqueue(ReconcileTrigger t);

  Status Start();
  // Graceful: stops taking triggers, interrupts a running apply (journaled, as SIGINT stops
  // `galley apply`), releases leadership, stops the HTTP server. Idempotent.
  void Stop();

  uint16_t port() const;
  bool leader() const { return elector_.leader(); }
  Worker& worker() { return worker_; }
  TriggerQueue& queue() { return queue_; }
  const Router& router() const { return router_; }
  Registry& registry() { return registry_; }
  ServeMetrics& metrics() { return metrics_; }
  size_t notifiers() const { return notifiers_.size(); }
  DriftWatch* drift_watch() { return drift_watch_.get(); }
  // The worker's observer (called on its thread after each reconcile; tests call it
  // directly): metrics, transitions notified by the leader, the drift watch's scope.
  void OnRun(const RunReport& report);
  // Leadership changed (the leader loop's thread): the gauge and a notification.
  void OnLeader(bool leading);
  // The whole request path, for tests without sockets.
  net::HttpResponse Handle(const net::HttpRequest& request) const {
    return router_.Handle(request);
  }

 private:
  static ServerOptions Hooked(ServerOptions options, Server* self);
  void AddRoutes();
  void TimerLoop();
  net::HttpResponse Readyz() const;
  net::HttpResponse RunDetail(const net::HttpRequest& request) const;
  net::HttpResponse Services() const;
  net::HttpResponse ServiceDetail(const net::HttpRequest& request) const;
  net::HttpResponse PostReconcile(const net::HttpRequest& request);
  net::HttpResponse PostApply(const net::HttpRequest& request);
  net::HttpResponse PostFlappingClear(const net::HttpRequest& request);
  void Log(const std::string& level, const std::string& message,
           const nlohmann::json& fields = nlohmann::json::object()) const;

  RepositorySource& source_;
  clients::ConsulClient& consul_;
  Registry registry_;
  ServeMetrics metrics_{registry_};
  ServerOptions options_;
  std::map<std::string, std::string> mounted_;  // path → methods mounted there (for 405)
  std::unique_ptr<net::HttpClient> notify_http_;
  // One notifier per target, each with its own queue and thread: a target that hangs or
  // keeps failing delays only its own deliveries.
  std::vector<std::unique_ptr<Notifier>> notifiers_;
  std::unique_ptr<DriftWatch> drift_watch_;
  std::mutex observe_mu_;  // the last state the notifier compared (OnRun, OnLeader)
  NotifyState notified_;
  bool baseline_ = false;  // the first observation is the baseline, not "new drift"
  Router router_;
  TriggerQueue queue_;
  Worker worker_;
  LeaderElector elector_;
  std::unique_ptr<LeaderLoop> leader_loop_;
  std::unique_ptr<net::HttpServer> http_;
  std::thread timer_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool started_ = false;
};

}  // namespace galley::server
