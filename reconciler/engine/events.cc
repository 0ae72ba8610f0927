// SPDX-License-Identifier: Apache-2.0
#include "engine/events.h"

namespace galley::engine {

// TODO(merge): the exec branch may define this next to the executor; keep one definition.
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
  return "unknown";
}

}  // namespace galley::engine
