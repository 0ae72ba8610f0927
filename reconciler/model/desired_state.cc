// SPDX-License-Identifier: Apache-2.0
#include "model/desired_state.h"

#include <algorithm>

namespace galley::model {

const char* ExposeName(Expose e) {
  switch (e) {
    case Expose::kNone: return "none";
    case Expose::kHttp: return "http";
    case Expose::kTcp: return "tcp";
  }
  return "none";
}

const char* HaproxyRoleName(HaproxyRole r) {
  return r == HaproxyRole::kInternal ? "internal" : "external";
}

const char* DriftPolicyName(DriftPolicy p) {
  switch (p) {
    case DriftPolicy::kRevert: return "revert";
    case DriftPolicy::kReport: return "report";
    case DriftPolicy::kIgnore: return "ignore";
  }
  return "revert";
}

const Environment* Platform::FindEnvironment(const std::string& env) const {
  for (const auto& e : environments) {
    if (e.name == env) return &e;
  }
  return nullptr;
}

const ServiceEnvironment* Service::FindEnvironment(const std::string& env) const {
  for (const auto& e : environments) {
    if (e.name == env) return &e;
  }
  return nullptr;
}

std::vector<Port> Service::ExposedPorts() const {
  std::vector<Port> out;
  for (const auto& p : ports) {
    if (p.expose != Expose::kNone) out.push_back(p);
  }
  return out;
}

std::string Service::RegisteredName(int container_port) const {
  if (ExposedPorts().size() <= 1) return name;
  return name + "-" + std::to_string(container_port);
}

const Service* DesiredState::FindService(const std::string& service) const {
  auto it = std::lower_bound(services.begin(), services.end(), service,
                             [](const Service& s, const std::string& n) { return s.name < n; });
  if (it != services.end() && it->name == service) return &*it;
  return nullptr;
}

}  // namespace galley::model
