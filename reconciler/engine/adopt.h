// SPDX-License-Identifier: Apache-2.0
// `galley adopt` (DESIGN §8 point 16), the pure half: live apps deployed without galley (no
// galley labels, no applied record; KV under app/<env>/<service>/) → one model::Service per
// service, its environments grouped, that renders to what runs. What the schema cannot
// express is kept live through the service's `ignore:` pointers and listed, never dropped;
// what cannot be kept that way (the app's image differing between environments beyond the
// tag, ...) refuses that service with the reason. Pure functions; thread-safe.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/desired_state.h"
#include "model/live_state.h"

namespace galley::engine {

struct AdoptInput {
  const model::Platform* platform = nullptr;
  std::vector<std::string> environments;  // in scope, platform-file order
  const model::LiveState* live = nullptr;
  std::set<std::string> declared_services;  // already in the repository: left alone
  std::set<std::string> owned_apps;         // galley's already (label or applied record)
};

struct AdoptedService {
  model::Service service;              // environments in platform order; config literal
  std::vector<std::string> kept;       // "/labels/team: kept as it runs (ignore:)"
  std::vector<std::string> keys_left;  // KV keys under its prefixes that are not adopted
  std::string refused;                 // non-empty: not adopted, and why
};

struct AdoptOutcome {
  std::vector<AdoptedService> services;  // by name
  std::vector<std::string> notes;        // apps left alone and why
};

AdoptOutcome PlanAdoption(const AdoptInput& in);

// The app body without galley's own labels (galley.platform, galley.config-digest): what a
// seed-deployed app is compared with.
nlohmann::json WithoutGalleyLabels(nlohmann::json body);

// The service file galley adopt writes (comments name what is kept through ignore:).
std::string AdoptedServiceYaml(const AdoptedService& a, const std::string& stamp);

}  // namespace galley::engine
