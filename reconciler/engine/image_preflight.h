// SPDX-License-Identifier: Apache-2.0
// Image preflight (issue #15): before a plan is shown or applied, every image:tag its app
// creates and updates would deploy — and live does not run yet — must exist in the
// platform's registry. A missing image becomes one of the plan's `errors` (plan and apply
// stop with exit 1 before anything is written); a registry that cannot be asked is an error
// of its own. Each image is asked once per ImagePreflight (one per run). Images of another
// registry than the configured one are not checked (a plan warning says so). Not thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "clients/registry_client.h"
#include "engine/plan.h"

namespace galley::engine {

// An image the plan would deploy and the app actions that deploy it, in plan order.
struct ImageNeed {
  std::string image;  // as rendered: "registry.local/platform/api-gateway:v2.15.0"
  std::vector<std::string> apps;
};

// Pure: app creations, and app updates whose /container/docker/image changes.
std::vector<ImageNeed> ImagesToDeploy(const Plan& plan);

class ImagePreflight {
 public:
  // `registry` may be null: nothing is checked, and a warning says so. `host` is the image
  // prefix the registry serves (galley.yaml `registry:`); "" = every image.
  ImagePreflight(clients::ImageRegistry* registry, std::string host);

  // Adds an error line to plan.errors per missing image and a warning per image not checked;
  // fails (nothing added) when the registry cannot answer.
  Status Check(Plan& plan);

  int asked() const { return asked_; }  // registry requests made (cache misses)

 private:
  clients::ImageRegistry* registry_;
  std::string host_;
  std::map<std::string, clients::ManifestCheck> cache_;
  int asked_ = 0;
};

}  // namespace galley::engine
