// SPDX-License-Identifier: Apache-2.0
#include "agent/reporter.h"

#include <utility>

#include "base/time_text.h"

namespace galley::agent {

Reporter::Reporter(clients::ConsulClient* consul, ReporterOptions options, Clock* clock,
                   LogSink log)
    : consul_(consul), options_(std::move(options)), clock_(clock), log_(std::move(log)) {
  key_ = render::AgentReportKey(options_.platform, options_.node, options_.instance);
  if (options_.session_name.empty())
    options_.session_name = "galley agent " + options_.node + " " + options_.instance;
}

void Reporter::Log(const std::string& line) {
  if (log_) log_(line);
}

void Reporter::Update(const render::AgentReport& report) {
  std::lock_guard<std::mutex> l(mu_);
  // The first report while the key is not held yet: Run ticks at once rather than at its
  // next step, since the LB manager leaves HAProxy alone until this agent holds the key.
  if (!holding_ && !pending_) kick_ = true;
  pending_ = report;
}

std::string Reporter::session() const {
  std::lock_guard<std::mutex> l(mu_);
  return session_;
}

bool Reporter::holding() const {
  std::lock_guard<std::mutex> l(mu_);
  return holding_;
}

Status Reporter::EnsureSession() {
  Clock& clock = ClockOr(clock_);
  std::string id;
  bool due = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    id = session_;
    due = clock.Now() - last_renew_ >= options_.renew_every;
  }
  if (!id.empty() && !due) return Status::Ok();
  if (!id.empty()) {
    Status s = consul_->RenewSession(id);
    if (s.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      last_renew_ = clock.Now();
      return s;
    }
    if (s.code() != StatusCode::kNotFound) return s.WithContext("renewing the report session");
    Log("report session " + id + " is gone (expired or destroyed); creating a new one");
    std::lock_guard<std::mutex> l(mu_);
    session_.clear();
    holding_ = false;
    written_.clear();
  }
  clients::SessionOptions so;
  so.name = options_.session_name;
  so.ttl_seconds = options_.ttl_seconds;
  so.lock_delay_seconds = 0;
  so.behavior = "delete";
  auto created = consul_->CreateSession(so);
  if (!created.ok()) return created.status().WithContext("creating the report session");
  std::lock_guard<std::mutex> l(mu_);
  session_ = *created;
  holding_ = false;
  written_.clear();
  last_renew_ = clock.Now();
  return Status::Ok();
}

Status Reporter::Tick() {
  Status s = EnsureSession();
  if (!s.ok()) {
    std::lock_guard<std::mutex> l(mu_);
    holding_ = false;
    if (s.message() != last_error_) {
      last_error_ = s.message();
      Log("agent report: " + s.message());
    }
    return s;
  }
  std::string id, json, compare;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!pending_) return Status::Ok();  // nothing to say yet
    render::AgentReport r = *pending_;
    r.report_time.clear();
    compare = render::AgentReportToJson(r);
    if (holding_ && compare == written_) return Status::Ok();
    r.report_time = FormatTimestamp(ClockOr(clock_).WallNow());
    json = render::AgentReportToJson(r);
    id = session_;
  }
  auto acquired = consul_->AcquireLock(key_, json, id);
  Status err;
  if (!acquired.ok()) {
    err = acquired.status().WithContext("writing the agent report at " + key_);
    if (acquired.status().code() == StatusCode::kNotFound) {
      std::lock_guard<std::mutex> l(mu_);
      session_.clear();  // Consul forgot it: make a new one next tick
      holding_ = false;
    }
  } else if (!*acquired) {
    std::string holder = "another session";
    auto cur = consul_->GetKv(key_);
    if (cur.ok() && !cur->session.empty()) holder = "session " + cur->session;
    err = Status::Conflict("agent report key " + key_ + " is held by " + holder +
                           ": another agent claims node " + options_.node + " instance " +
                           options_.instance + "; not overwriting it, retrying");
  }
  std::lock_guard<std::mutex> l(mu_);
  if (!err.ok()) {
    holding_ = false;
    if (err.message() != last_error_) {
      last_error_ = err.message();
      Log(err.message());
    }
    return err;
  }
  if (!holding_) Log("agent report: holding " + key_ + " with session " + id);
  holding_ = true;
  written_ = compare;
  last_error_.clear();
  return Status::Ok();
}

void Reporter::Run(const std::atomic<bool>& stop) {
  Clock& clock = ClockOr(clock_);
  while (!stop.load()) {
    (void)Tick();  // errors are logged by Tick and retried on the next step
    for (auto waited = std::chrono::milliseconds(0); waited < options_.tick && !stop.load();
         waited += std::chrono::milliseconds(50)) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (kick_) {
          kick_ = false;
          break;
        }
      }
      clock.Sleep(std::chrono::milliseconds(50));
    }
  }
  Status s = Shutdown();
  if (!s.ok()) Log("agent report: " + s.message());
}

Status Reporter::Shutdown() {
  std::string id;
  {
    std::lock_guard<std::mutex> l(mu_);
    id = session_;
    session_.clear();
    holding_ = false;
    written_.clear();
  }
  if (id.empty()) return Status::Ok();
  return consul_->DestroySession(id).WithContext("destroying the report session");
}

}  // namespace galley::agent
