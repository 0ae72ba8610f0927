// SPDX-License-Identifier: Apache-2.0
// `galley status`: one row per declared service × environment in scope — the live tag,
// instances healthy/wanted, whether a deployment runs, and one state, like `argocd app list`:
//   paused     the service or environment is paused (galley touches nothing);
//   unmanaged  the app exists live, not galley's (no label, no applied record);
//   failed     what the plan would do for it includes the very change that failed to
//              deploy last time (apply holds it until --retry-failed or a new change);
//   pending    Git wants a change (new, desired-changed) of its app or keys;
//   drifted    live moved away from what galley applied (reverted by the next apply, or
//              reported when the policy says so);
//   in sync    none of these.
// Pure: built from the planner's input (desired, live, applied, policies) and the plan made
// from it (annotated with failures, failed_deploys.h); no I/O. Values; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/plan.h"
#include "engine/planner.h"

namespace galley::engine {

inline constexpr int kStatusSchemaVersion = 1;

enum class SyncState { kInSync, kPending, kDrifted, kFailed, kPaused, kUnmanaged };
// "in sync", "pending", "drifted", "failed", "paused", "unmanaged"
const char* SyncStateName(SyncState s);

struct StatusRow {
  std::string service, env, app_id;
  bool live = false;                  // the app exists in Marathon
  std::string live_tag, desired_tag;  // the image tags ("" when there is no app / no tag)
  int wanted = 0;                     // the live app's instances
  int healthy = 0;                    // tasks healthy (running, for apps without health checks)
  int running = 0;
  int desired_instances = 0;
  bool deploying = false;
  std::vector<std::string> deployments;
  SyncState state = SyncState::kInSync;
  // What makes the state: "app update (desired-changed): image, labels.version".
  std::vector<std::string> details;
  std::optional<LastFailure> last_failure;
};

struct StatusReport {
  std::string platform, commit, galley_version, checked_at;
  std::vector<std::string> environments;
  std::vector<StatusRow> rows;  // by service name, then environments in platform-file order
  int unmanaged = 0;            // undeclared objects under managed prefixes galley leaves alone
  int orphans = 0;              // undeclared objects galley owns, which apply would prune
  std::vector<std::string> warnings;
};

StatusReport BuildStatus(const PlanInput& in, const Plan& plan);

// The tag of a Docker image reference: "registry:5000/a/b:v1" → "v1"; "" without one.
std::string ImageTag(const std::string& image);

nlohmann::json StatusToJson(const StatusReport& report);  // schema/v1/status.schema.json
std::string RenderStatusText(const StatusReport& report, bool color);

}  // namespace galley::engine
