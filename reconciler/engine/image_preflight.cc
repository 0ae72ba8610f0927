// SPDX-License-Identifier: Apache-2.0
#include "engine/image_preflight.h"

#include <algorithm>

#include "base/strings.h"

namespace galley::engine {
namespace {

std::string ImageOf(const nlohmann::json& body) {
  const nlohmann::json::json_pointer p("/container/docker/image");
  if (!body.is_object() || !body.contains(p) || !body.at(p).is_string()) return "";
  return body.at(p).get<std::string>();
}

}  // namespace

std::vector<ImageNeed> ImagesToDeploy(const Plan& plan) {
  std::vector<ImageNeed> out;
  for (const auto& a : plan.actions) {
    bool deploys = a.kind == ActionKind::kAppCreate;
    if (a.kind == ActionKind::kAppUpdate) {
      deploys = std::any_of(a.changes.begin(), a.changes.end(), [](const FieldChange& c) {
        return c.pointer == "/container/docker/image" || c.pointer == "/container" ||
               c.pointer == "/container/docker";
      });
    }
    if (!deploys) continue;
    std::string image = ImageOf(a.desired);
    if (image.empty()) continue;
    auto it =
        std::find_if(out.begin(), out.end(), [&](const ImageNeed& n) { return n.image == image; });
    if (it == out.end()) {
      out.push_back({image, {a.target}});
    } else {
      it->apps.push_back(a.target);
    }
  }
  return out;
}

ImagePreflight::ImagePreflight(clients::ImageRegistry* registry, std::string host)
    : registry_(registry), host_(std::move(host)) {}

Status ImagePreflight::Check(Plan& plan) {
  std::vector<ImageNeed> needs = ImagesToDeploy(plan);
  if (needs.empty()) return Status::Ok();
  if (!registry_) {
    plan.warnings.push_back(
        "images not checked: no registry API configured (--registry or GALLEY_REGISTRY_URL)");
    return Status::Ok();
  }
  std::vector<std::string> errors, unchecked;
  for (const auto& need : needs) {
    auto ref = clients::ParseImageReference(need.image);
    if (!ref.ok()) {
      errors.push_back(ref.status().message() + " (" + Join(need.apps, ", ") + ")");
      continue;
    }
    if (!host_.empty() && ref->registry != host_) {
      unchecked.push_back(need.image);
      continue;
    }
    auto cached = cache_.find(need.image);
    if (cached == cache_.end()) {
      ++asked_;
      auto r = registry_->CheckManifest(ref->repository, ref->tag);
      if (!r.ok()) {
        return r.status().WithContext("image preflight (" + need.image + ")");
      }
      cached = cache_.emplace(need.image, *r).first;
    }
    if (!cached->second.exists) {
      errors.push_back("image " + need.image + " is not in " + registry_->Describe() + " (" +
                       cached->second.detail + "); needed by " + Join(need.apps, ", ") +
                       ": push it first, or plan with --skip-image-check");
    }
  }
  if (!unchecked.empty()) {
    plan.warnings.push_back("images of another registry than " + host_ +
                            " not checked: " + Join(unchecked, ", "));
  }
  plan.errors.insert(plan.errors.end(), errors.begin(), errors.end());
  return Status::Ok();
}

}  // namespace galley::engine
