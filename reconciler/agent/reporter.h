// SPDX-License-Identifier: Apache-2.0
// The agent's report in Consul (DESIGN §8 point 14): the AgentReport JSON at
// AgentReportKey(platform, node, instance), written only through `?acquire=` with the agent's
// own session (TTL 15 s, behavior delete, lock-delay 0), so the key vanishes with a dead agent.
//   - A second agent claiming the same node and instance fails to acquire: it logs a clear
//     error naming the holder's session, keeps retrying, and never writes the key (an acquire
//     with another session is refused by Consul; a plain PUT is never sent).
//   - The session is renewed every `renew_every` (~TTL/3); a session Consul no longer knows
//     (expired while Consul was unreachable, destroyed by hand) is created again and the key
//     re-acquired.
//   - The report is written when it changed (the report time alone does not count) or when
//     the key was re-acquired.
//   - Shutdown destroys the session; behavior delete removes the key.
// Thread-safe: Update may be called from any thread; Tick/Run/Shutdown from one.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/status.h"
#include "clients/consul_client.h"
#include "render/lb_model.h"

namespace galley::agent {

struct ReporterOptions {
  std::string platform, node, instance;
  std::string session_name;  // "" = "galley agent <node> <instance>"
  int ttl_seconds = 15;
  std::chrono::milliseconds renew_every{5000};
  std::chrono::milliseconds tick{1000};  // Run's step
};

class Reporter {
 public:
  using LogSink = std::function<void(const std::string&)>;
  // `consul` must outlive the reporter.
  Reporter(clients::ConsulClient* consul, ReporterOptions options, Clock* clock = nullptr,
           LogSink log = nullptr);

  // The report to publish (report_time is set when written).
  void Update(const render::AgentReport& report);
  // One step: session (create/renew), acquire and write when needed. The error when the key
  // is held by another session, Consul fails, or the session could not be made.
  [[nodiscard]] Status Tick();
  // Tick every options.tick until `stop`, then Shutdown.
  void Run(const std::atomic<bool>& stop);
  // Destroys the session (the key goes with it).
  [[nodiscard]] Status Shutdown();

  const std::string& key() const { return key_; }
  std::string session() const;
  // Whether this agent holds the key now.
  bool holding() const;

 private:
  Status EnsureSession();
  void Log(const std::string& line);

  clients::ConsulClient* consul_;
  ReporterOptions options_;
  Clock* clock_;
  LogSink log_;
  std::string key_;

  mutable std::mutex mu_;
  std::optional<render::AgentReport> pending_;  // newest report
  std::string written_;                         // JSON last written (report_time blanked)
  std::string session_;
  bool holding_ = false;
  bool kick_ = false;  // Update gave a first report: Run ticks without finishing its wait
  std::chrono::steady_clock::time_point last_renew_{};
  std::string last_error_;
};

}  // namespace galley::agent
