// SPDX-License-Identifier: Apache-2.0
// Marathon path ids (state/PathId.scala): canonical absolute form, segment validation,
// parents, and the "safe path" task ids derive from. Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace galley::sandbox::marathon {

// The segment pattern Marathon reports in its validation error.
extern const char kIdSegmentPattern[];

// Resolves `raw` against `base` (an absolute group id such as "/"): "foo" → "/foo",
// "/a//b/" → "/a/b", "./x" and "../x" are resolved. Empty segments are dropped.
std::string CanonicalId(std::string_view raw, std::string_view base = "/");
std::vector<std::string> IdSegments(std::string_view id);

// Validation problems of a canonical app id (empty when valid), as Marathon words them.
std::vector<std::string> ValidateAppId(std::string_view raw, std::string_view canonical);

// "/a/b/c" → "/a/b"; "/a" → "/"; "/" → "/".
std::string ParentId(std::string_view id);
// True when `id` is `group` or below it.
bool IsUnder(std::string_view id, std::string_view group);

// "/app/production/x" → "app_production_x".
std::string SafePath(std::string_view id);

// Parses a Marathon task id ("a_b.instance-<uuid>._app.1", "a_b.<uuid>", "a_b_<uuid>")
// into the safe app path; nullopt when it is not a task id.
std::optional<std::string> TaskIdSafePath(std::string_view task_id);

}  // namespace galley::sandbox::marathon
