// SPDX-License-Identifier: Apache-2.0
// Normalisation of Marathon app definitions, applied to desired and live bodies alike so an
// app created from a rendered definition and read back never shows a difference
// (reference/marathon-api.md §4): 1.4 networking and deprecated fields translated to the
// 1.5+ form; null, absent, [] and {} made the same for collection fields (except host
// portDefinitions and bridge/container portMappings, 1.4's docker.portMappings included,
// where absent or null means one default port and [] means none: marathon-events.md §4);
// every server
// default removed when the value equals it (version-dependent defaults accept each
// version's value); read-only fields (version, versionInfo, tasks, counts, deployments,
// lastTaskFailure, ...) and server-assigned service ports removed; `role` removed (galley
// never sets it); numbers compared as numbers; healthChecks, constraints and
// acceptedResourceRoles compared as the sets Marathon keeps them as. Pure.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace galley::engine {

nlohmann::json NormalizeApp(const nlohmann::json& app);

// Removes the values at each JSON pointer (e.g. "/instances", "/labels/team") when present;
// pointers that do not resolve are ignored.
void RemovePointers(nlohmann::json& doc, const std::vector<std::string>& pointers);

}  // namespace galley::engine
