// SPDX-License-Identifier: Apache-2.0
// Marathon's app JSON into LiveApp values (internal to clients/).
//
// LiveAppFromJson: one app document (GET /v2/apps/<id> or an element of the listing) with its
// tasks, deployments and counters read and Marathon's read-only keys removed from the body.
// ParseAppListing: the listing of every app (GET /v2/apps?embed=apps.tasks&...) read by a
// SAX handler — each app's body built as a document, its embedded tasks read straight into
// LiveTask values without one (they are almost half of the bytes: 9 of 19 MB at 2,000
// services x 3 environments).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "model/live_state.h"

namespace galley::clients::internal {

// A member that is present and not null, else nullptr (also when `obj` is no object).
const nlohmann::json* Field(const nlohmann::json& obj, const char* key);
// The member when it is a string, else `fallback`.
std::string StringOr(const nlohmann::json& obj, const char* key, std::string fallback = "");
// Integers as Marathon writes them; 3.0 is accepted as 3 (some serialisers write doubles).
std::optional<int> IntOf(const nlohmann::json* v);

// Consumes `app` (the JSON of one app, or {"app": {...}}). With `tasks`, those are the app's
// tasks (already read) and its "tasks" member is not looked at.
Result<model::LiveApp> LiveAppFromJson(nlohmann::json app,
                                       std::optional<std::vector<model::LiveTask>> tasks = {});

// The apps of a listing for which keep(id) holds, in listing order. Errors, in this order:
// invalid JSON (the message of ParseJsonBody, which finds the same first error), no "apps"
// array ("<context>: unexpected response: no \"apps\" array"), the first app without a
// string id ("... apps[N] has no string 'id'"), then LiveAppFromJson's errors of kept apps.
Result<std::vector<model::LiveApp>> ParseAppListing(
    const std::string& body, const std::string& context,
    const std::function<bool(const std::string& id)>& keep);

}  // namespace galley::clients::internal
