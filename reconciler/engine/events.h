// SPDX-License-Identifier: Apache-2.0
// What an apply reports while it runs, as typed events (the way ninja reports through its
// Status interface rather than strings). The executor and the reconcile workflow emit them
// into an ApplyEventSink; the CLI renders them as text lines or JSON lines, a server can
// stream them, and tests assert on them field by field.
//
// Every event also carries `line`, the human sentence the CLI prints for it (without the
// elapsed-time prefix), so a text renderer needs no knowledge of each kind.
#pragma once

#include <optional>
#include <string>

namespace galley::engine {

enum class StepState { kApplied, kFailed, kNotAttempted, kInterrupted };
const char* StepStateName(StepState s);  // "applied", "failed", "not attempted", "interrupted"

enum class EventKind {
  // The workflow (engine/reconcile): the run's phases and what it decided.
  kPhase,      // a phase began or ended: "lock acquired", "observed …", "nothing to do"
  kRecovered,  // a journal entry a killed apply left open was settled (line says how)
  kWarning,    // something the user must know that does not stop the run
  // The executor (engine/apply): one step is one app action or one KV step.
  kStepStarted,   // the step's first write is about to be sent
  kDeployment,    // a followed app changed state: deployment step, task counts
  kStepNote,      // waiting for another deployment, backing off, an answer lost, a rollback
  kStepFinished,  // the step ended: `state` says how, `line` why
  kStopping,      // nothing new is started (lock lost, interrupted, a write refused)
};
const char* EventKindName(EventKind k);  // "phase", "recovered", "warning", "step-started", …

struct ApplyEvent {
  EventKind kind = EventKind::kPhase;
  double at = 0;          // seconds since the apply (or the workflow) began, on its clock
  std::string action_id;  // the plan action ("" for workflow events and KV steps of many)
  std::string target;     // app id, or the KV step's name ("kv app/production/web (3 keys)")
  std::string line;       // the human sentence, as the CLI prints it
  // kDeployment: the deployment being followed and where the app stands.
  std::string deployment_id;
  int deployment_step = 0, deployment_steps = 0;  // 0 when no deployment names the app
  int healthy = 0, running = 0, wanted = 0;
  // kStepFinished
  std::optional<StepState> state;
  double seconds = 0;  // how long the step took
  bool rolled_back = false;
};

// Receives events. The executor calls it from its worker threads, one call at a time
// (serialised by a mutex that guards nothing else), never while holding the scheduler's or
// the recorder's lock: a sink may block on I/O (a terminal, a socket) and stalls only the
// workers that report, never the scheduling of the others.
class ApplyEventSink {
 public:
  virtual ~ApplyEventSink() = default;
  virtual void On(const ApplyEvent& event) = 0;
};

}  // namespace galley::engine
