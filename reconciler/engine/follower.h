// SPDX-License-Identifier: Apache-2.0
// Internal to the executor and crash recovery (engine/executor.cc, engine/recovery.cc):
// reporting typed events, and following one app until it is healthy or gone.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "base/status.h"
#include "engine/apply.h"
#include "engine/events.h"

namespace galley::engine {

// `options` with its seams filled in (the real clock) and its bounds made sane.
ApplyOptions WithDefaults(ApplyOptions options);

// "10m", "45s": a deadline as the user wrote it.
std::string DeadlineText(std::chrono::seconds d);

// Healthy as apply means it: no deployment names the app, every instance runs and, with
// health checks, every instance is healthy.
bool Healthy(const model::LiveApp& app);

// Stamps each event with the seconds since it was made (on the apply's clock) and hands it
// to the sink one call at a time. Its mutex guards only the sink calls, so a sink that
// blocks stalls the workers that report, never the scheduling of the others.
class EventReporter {
 public:
  EventReporter(ApplyEventSink* sink, Clock& clock)
      : sink_(sink), clock_(clock), start_(clock.Now()) {}

  void Emit(ApplyEvent event);
  // An event of `kind` with only its identity and line.
  void Emit(EventKind kind, const std::string& action_id, const std::string& target,
            const std::string& line);

 private:
  ApplyEventSink* sink_;
  Clock& clock_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
};

// Follows one app until it is healthy (or gone, for a delete), reporting each change of
// state as a kDeployment event; at the deadline it cancels the deployment (Marathon rolls
// the app back) and fails.
struct Follower {
  ApplyTarget& target;
  const ApplyOptions& o;
  EventReporter& events;
  std::string action_id;

  Status Wait(bool deleting, const std::string& id, const std::string& deployment_id,
              std::chrono::steady_clock::time_point deadline);

 private:
  // A kDeployment event for `app` (line: "deployment step 1/2 (…), healthy 0/2, running 1").
  ApplyEvent Describe(const model::LiveApp& app, const std::string& deployment_id);
};

}  // namespace galley::engine
