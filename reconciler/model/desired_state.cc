// SPDX-License-Identifier: Apache-2.0
#include "model/desired_state.h"

#include <algorithm>

namespace galley::model {

const char* ExposeName(Expose e) {
  switch (e) {
    case Expose::kNone:
      return "none";
    case Expose::kHttp:
      return "http";
    case Expose::kTcp:
      return "tcp";
  }
  return "none";
}

const char* HaproxyRoleName(HaproxyRole r) {
  return r == HaproxyRole::kInternal ? "internal" : "external";
}

const char* DriftPolicyName(DriftPolicy p) {
  switch (p) {
    case DriftPolicy::kRevert:
      return "revert";
    case DriftPolicy::kReport:
      return "report";
    case DriftPolicy::kIgnore:
      return "ignore";
  }
  return "revert";
}

const char* ResourceKindName(ResourceKind k) {
  switch (k) {
    case ResourceKind::kMarathonApp:
      return "marathon_app";
    case ResourceKind::kConsulKv:
      return "consul_kv";
    case ResourceKind::kHaproxyModel:
      return "haproxy_model";
    case ResourceKind::kChronosJob:
      return "chronos_job";
  }
  return "consul_kv";
}

EffectivePolicy Policies::Resolve(ResourceKind kind, const std::string& env,
                                  const std::string& service) const {
  // Most specific first; nullptr where a level does not apply or says nothing.
  const PolicyBlock* levels[4] = {nullptr, nullptr, nullptr, &platform};
  if (!service.empty()) {
    if (!env.empty()) {
      auto it = service_environments.find({service, env});
      if (it != service_environments.end()) levels[0] = &it->second;
    }
    auto it = services.find(service);
    if (it != services.end()) levels[1] = &it->second;
  }
  if (!env.empty()) {
    auto it = environments.find(env);
    if (it != environments.end()) levels[2] = &it->second;
  }
  std::optional<DriftPolicy> drift;
  std::optional<bool> prune;
  for (const PolicyBlock* b : levels) {
    if (!b) continue;
    for (const PolicySetting* s : {&b->For(kind), &b->all}) {
      if (!drift) drift = s->drift;
      if (!prune) prune = s->prune;
    }
    if (drift && prune) break;
  }
  EffectivePolicy out;
  if (drift) out.drift = *drift;
  if (prune) out.prune = *prune;
  return out;
}

Policies PoliciesOf(const DesiredState& state) {
  Policies p;
  p.platform = state.platform.policy;
  for (const auto& e : state.platform.environments) {
    if (!e.policy.empty()) p.environments[e.name] = e.policy;
  }
  for (const auto& s : state.services) {
    if (!s.policy.empty()) p.services[s.name] = s.policy;
    for (const auto& e : s.environments) {
      if (!e.policy.empty()) p.service_environments[{s.name, e.name}] = e.policy;
    }
  }
  return p;
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

std::string ChronosJobName(const std::string& env, const std::string& service,
                           const std::string& job) {
  return env + "-" + service + "-" + job;
}

}  // namespace galley::model
