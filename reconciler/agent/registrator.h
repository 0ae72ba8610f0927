// SPDX-License-Identifier: Apache-2.0
// Registrator: the loop half of `galley agent` that keeps the local Consul agent's service
// registrations in step with the healthy Marathon tasks on this node (DESIGN §8 point 14,
// issue #12). The decision is PlanRegistrations (registrations.h); this file is the when:
//   - A full resync (SyncOnce): one Marathon app list with tasks + the agent's services →
//     PlanRegistrations → deregistrations, then registrations. It runs at start, whenever the
//     event stream (re)connects (nothing emitted while disconnected is replayed), every
//     resync_interval, a coalescing delay after a status or health event of a task on this
//     node, and, after a failed one, with capped exponential backoff until one succeeds.
//   - A failed Marathon read (or a failed agent listing) changes nothing: a task missing from
//     a failed or partial read is not "gone". Only a complete, successful read deregisters.
//   - A task that starts leaving (TASK_KILLING, or any terminal or lost state,
//     clients::IsLeavingTaskState) is handled on the event's arrival, without a Marathon read:
//     on_killing gets its endpoints whatever node it runs on (each host's LB manager drains
//     every killed task's servers at once), and when it runs on this node its registrations
//     are deregistered by ID. Such a task is never registered again by this registrator (a
//     resync whose read predates the kill cannot bring it back), except after TASK_LOST or
//     TASK_UNREACHABLE, from which Marathon may bring a task back to TASK_RUNNING.
//   - A resync that finds a task leaving whose event it missed (the stream was down) calls
//     on_killing for it too, once.
//   - Kill hints, earlier than TASK_KILLING (marathon-events.md §3.3): Marathon 1.8+ sets a
//     running instance's goal to Decommissioned right before it kills it, announced by an
//     instance_changed_event whose condition ("Running") did not change; a health kill is
//     announced by unhealthy_instance_kill_event. Either calls on_killing for the instance's
//     tasks, with the endpoints the last read or their TASK_RUNNING event gave; nothing is
//     deregistered until TASK_KILLING (or the task going) says so. "Did not change" needs
//     the instance's last condition: from its last instance event, else Running when the
//     last read saw its task running.
//   - A health event with alive:false deregisters the matching task's registrations at once
//     (a later resync registers it again when Marathon's read shows it healthy).
//   - Consul or Marathon unreachable or answering garbage: one log line per failure naming
//     the endpoint, retries with backoff, convergence once they answer.
// Endpoints given to on_killing: (host, port), (each of the event's ipAddresses, port) and,
// for a task on this node, (node_address, port), for every host port of the task; the LB
// manager matches whichever its rendered servers use.
// Log lines go to options.log (never printed). Thread-safety: Run uses two threads (the event
// source's and the resync loop); HandleEvent, HandleConnected and HandleDisconnected may be
// called from any thread, concurrently with RunDue/SyncOnce, which one thread at a time calls.
// on_killing and log may be called from either thread (log calls are serialised).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/lb_sync.h"
#include "agent/registrations.h"
#include "base/clock.h"
#include "base/status.h"
#include "clients/consul_agent.h"
#include "clients/marathon_client.h"
#include "clients/marathon_events.h"
#include "model/desired_state.h"

namespace galley::agent {

struct RegistratorOptions {
  std::string node_name;     // this host as Marathon names it (task "host")
  std::string node_address;  // the address registrations and their checks use
  std::chrono::milliseconds resync_interval{60000};
  std::chrono::milliseconds coalesce{150};         // an event's resync waits this long for others
  std::chrono::milliseconds initial_backoff{500};  // after a failed resync, doubling
  std::chrono::milliseconds max_backoff{30000};
  // A task seen leaving stays barred from registration until a successful Marathon read no
  // longer lists it, or this long.
  std::chrono::milliseconds killed_memory{std::chrono::minutes(30)};
  Clock* clock = nullptr;  // null: the real clock
  std::function<void(std::vector<Endpoint>)> on_killing;
  std::function<void(std::string)> log;
};

struct SyncResult {
  int registered = 0;
  int deregistered = 0;
  int unchanged = 0;  // galley registrations of this node left as they are
};

class Registrator {
 public:
  // Where a task is reached: (host, port), (each of ips, port) and, on this node,
  // (node_address, port), for every host port.
  std::vector<Endpoint> EndpointsOf(const std::string& host, const std::vector<int>& ports,
                                    const std::vector<std::string>& ips = {}) const;

  // Nothing is owned; each must outlive the Registrator. `events` may be null when only
  // SyncOnce is used (`galley agent --once`). `state` gives the apps' conventions.
  Registrator(clients::MarathonClient* marathon, clients::ConsulAgentClient* consul,
              clients::MarathonEventSource* events, const model::DesiredState* state,
              RegistratorOptions options);

  // One full resync (see the file comment). Errors: Marathon or the agent could not be read
  // (nothing was changed), or some registrations failed (the others were made; the message
  // counts them and names the first failure).
  Result<SyncResult> SyncOnce();

  // Follows the event stream on a second thread and resyncs as the file comment says, until
  // `stop` turns true; returns within about 100 ms of that plus any request in flight.
  void Run(const std::atomic<bool>& stop);

  // The steps Run is made of, public for tests and for callers with their own loop.
  void HandleEvent(const clients::MarathonEvent& event);
  void HandleConnected(const std::string& url);  // a resync at once
  void HandleDisconnected(const Status& why);
  // Runs a resync when one is due; returns when the next one is due.
  std::chrono::steady_clock::time_point RunDue();

 private:
  void HandleKillHint(const clients::MarathonEvent& event);
  void Log(const std::string& line);
  bool OnNode(const std::string& host) const;
  void RequestResync(std::chrono::milliseconds delay);
  Status Deregister(const std::string& id, const std::string& why);

  clients::MarathonClient* marathon_;
  clients::ConsulAgentClient* consul_;
  clients::MarathonEventSource* events_;
  const model::DesiredState* state_;
  const RegistratorOptions options_;
  Clock& clock_;

  std::mutex log_mu_;
  std::mutex io_mu_;  // one agent write at a time: a kill's deregistration vs a resync's register

  std::mutex mu_;  // guards what follows
  std::condition_variable wake_;
  bool woken_ = false;
  std::optional<std::chrono::steady_clock::time_point> resync_at_;  // requested resync
  std::optional<std::chrono::steady_clock::time_point> retry_at_;   // after a failure
  std::chrono::steady_clock::time_point periodic_at_{};             // epoch: at once
  std::chrono::milliseconds backoff_;
  std::map<std::string, std::chrono::steady_clock::time_point> killed_;  // task id → when seen
  std::map<std::string, std::set<std::string>> known_;  // task id → this node's registration IDs
  std::set<std::string> remote_tasks_;  // Marathon tasks on other nodes (the last read)
  // Every running task's endpoints (the last read, then TASK_RUNNING events), for kill hints.
  std::map<std::string, std::vector<Endpoint>> running_endpoints_;
  std::map<std::string, std::string> conditions_;  // instance id → last condition seen
  std::set<std::string> last_notes_;               // logged once until they change
};

}  // namespace galley::agent
