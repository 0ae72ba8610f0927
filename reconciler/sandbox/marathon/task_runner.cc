// SPDX-License-Identifier: Apache-2.0
// MesosStateName (declared in task_runner.h).
#include "sandbox/marathon/task_runner.h"

namespace galley::sandbox::marathon {

const char* MesosStateName(TaskState s) {
  switch (s) {
    case TaskState::kStaging:
      return "TASK_STAGING";
    case TaskState::kStarting:
      return "TASK_STARTING";
    case TaskState::kRunning:
      return "TASK_RUNNING";
    case TaskState::kKilling:
      return "TASK_KILLING";
    case TaskState::kKilled:
      return "TASK_KILLED";
    case TaskState::kFailed:
      return "TASK_FAILED";
    case TaskState::kFinished:
      return "TASK_FINISHED";
  }
  return "TASK_UNKNOWN";
}

}  // namespace galley::sandbox::marathon
