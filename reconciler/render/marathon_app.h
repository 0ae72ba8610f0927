// SPDX-License-Identifier: Apache-2.0
// Renders a service in one environment as the Marathon app definition galley deploys:
// the conventions of DESIGN §1 (SERVICE_TAGS, SERVICE_NAME, wrapper args, docker BRIDGE
// port mappings, health checks, upgrade strategy) plus labels under "galley.". Pure and
// deterministic: same input, byte-identical output.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "model/desired_state.h"

namespace galley::render {

inline constexpr char kLabelPlatform[] = "galley.platform";

// "/app/<env>/<service>"
std::string MarathonAppId(const std::string& env, const std::string& service);
// "app/<env>/<service>": the Consul KV prefix the wrapper exports.
std::string KvPrefix(const std::string& env, const std::string& service);
// "<registry>/<image>:<tag>"
std::string ImageReference(const model::Platform& p, const model::Service& s,
                           const std::string& tag);
// "production,internal-listen-http-3000,balance-leastconn,..."
std::string ServiceTags(const model::Service& s, const std::string& env);

// REQUIRES: env is one of s.environments.
nlohmann::ordered_json RenderMarathonApp(const model::Platform& p, const model::Service& s,
                                         const model::ServiceEnvironment& env);

}  // namespace galley::render
