// SPDX-License-Identifier: Apache-2.0
// The image preflight's command-line side (issue #15), shared by plan and apply:
// `--registry URL`, `--skip-image-check`, and the check itself (engine::ImagePreflight over
// clients' registry client) as a callback for the plan. No registry configured: no check.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "base/status.h"
#include "cli/args.h"
#include "engine/plan.h"
#include "model/desired_state.h"

namespace galley::cli {

struct ImageCheckOptions {
  std::string registry_url;
  bool skip = false;
};

void AddImageCheckOptions(CommandLine& cl, ImageCheckOptions* o);

using ImageCheck = std::function<Status(engine::Plan&)>;

// Empty when skipped or when no registry is configured; an error for a malformed
// --registry/GALLEY_REGISTRY_* setting.
Result<ImageCheck> MakeImageCheck(const model::Platform& platform, const ImageCheckOptions& o,
                                  const std::map<std::string, std::string>& env);

}  // namespace galley::cli
