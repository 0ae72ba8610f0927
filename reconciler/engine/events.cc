// SPDX-License-Identifier: Apache-2.0
#include "engine/events.h"

namespace galley::engine {

const char* StepStateName(StepState s) {
  switch (s) {
    case StepState::kApplied:
      return "applied";
    case StepState::kFailed:
      return "failed";
    case StepState::kNotAttempted:
      return "not attempted";
    case StepState::kInterrupted:
      return "interrupted";
  }
  return "?";
}

const char* EventKindName(EventKind k) {
  switch (k) {
    case EventKind::kPhase:
      return "phase";
    case EventKind::kRecovered:
      return "recovered";
    case EventKind::kWarning:
      return "warning";
    case EventKind::kStepStarted:
      return "step-started";
    case EventKind::kDeployment:
      return "deployment";
    case EventKind::kStepNote:
      return "step-note";
    case EventKind::kStepFinished:
      return "step-finished";
    case EventKind::kStopping:
      return "stopping";
  }
  return "?";
}

}  // namespace galley::engine
