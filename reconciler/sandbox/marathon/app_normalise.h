// SPDX-License-Identifier: Apache-2.0
// App definitions as Marathon 1.5+ stores and emits them: JSON type checks (422 "Invalid
// JSON" with Play error codes), translation of the deprecated 1.4 fields (ports, uris,
// container.docker.network / portMappings, ipAddress), server defaults per field
// (reference §4.1), the 1.5+ emission rules (§4.3: what is always present, what is omitted
// when empty) and semantic validation (422 "Object is not valid" with details grouped by
// path such as "/healthChecks(0)/portIndex"). Service ports stay 0 here; the store assigns
// them. Pure functions, thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "sandbox/marathon/util.h"

namespace galley::sandbox::marathon {

// An API error: status plus Marathon's JSON body.
struct ApiError {
  int status = 422;
  Json body;
};

// Violations grouped by path, in first-seen order of paths.
class Problems {
 public:
  void Add(const std::string& path, const std::string& error);
  bool empty() const { return order_.empty(); }
  Json Details() const;                                // [{"path":..., "errors":[...]}]
  ApiError ToError(const std::string& message) const;  // 422 {"message", "details"}

 private:
  std::vector<std::string> order_;
  std::map<std::string, std::vector<std::string>> errors_;
};

// Drops null-valued keys (1.4 clients send "args": null) and the read-only keys a client
// may echo back from a GET (versionInfo, tasks, counts, deployments, lastTaskFailure, ...).
// `version` is kept (it means rollback in a PUT).
void StripReadOnlyAndNulls(Json& app);

// JSON shape of the known fields; `prefix` is prepended to paths ("/apps(0)").
void CheckAppTypes(const Json& app, const std::string& prefix, Problems* invalid_json);

// Rewrites the deprecated 1.4 fields of a full or partial app into their 1.5 forms:
// ports → portDefinitions, uris → fetch, container.docker.network and ipAddress → networks,
// container.docker.portMappings → container.portMappings, discovery ports → portMappings.
void TranslateDeprecated(Json& app, Problems* invalid);

// Fills the server defaults into a full definition whose id is already canonical, emits
// the 1.5+ shape and validates it. Service ports of 0 are left for the store to assign.
// Returns the stored form (no version/versionInfo) or a 422 error.
std::variant<Json, ApiError> NormaliseApp(const Json& app, const std::string& canonical_id);

// Service ports of a normalised app: portDefinitions[].port (host networking) or
// container.portMappings[].servicePort.
std::vector<int> ServicePortsOf(const Json& app);
// True when the app uses host networking.
bool IsHostNetworking(const Json& app);
// Number of ports a task of the app needs on its host.
int HostPortCount(const Json& app);

// True when a and b differ in anything but instances, version and versionInfo
// (AppDefinition.isUpgrade).
bool IsConfigChange(const Json& a, const Json& b);

}  // namespace galley::sandbox::marathon
