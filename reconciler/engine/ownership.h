// SPDX-License-Identifier: Apache-2.0
// What the planner and the drift report both need to decide what galley owns and how to
// compare: the comparable form of an app, which managed prefix (environment, service) an id
// or key is under, galley's platform label, and showing raw values where normalisation
// dropped a default. Pure functions; thread-safe. Internal to engine/.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/diff.h"

namespace galley::engine {

inline constexpr char kPlatformLabel[] = "galley.platform";

// The normalised body without the ignored JSON pointers: what "equal" means for an app.
nlohmann::json Comparable(const nlohmann::json& body, const std::vector<std::string>& ignore);

bool UnderAny(const std::string& s, const std::vector<std::string>& prefixes);

// The environment and service owning `s` under one of the managed `prefixes`
// ("/app/<env>/" or "app/<env>/"): the environment comes from the prefix itself, the service
// is the next path segment (empty for odd shapes such as "app/production/FOO"). {"", ""}
// when `s` is under none.
std::pair<std::string, std::string> Owner(const std::string& s,
                                          const std::vector<std::string>& prefixes);

// sha256 of the app's normalised definition: equal for two versions of an app that differ
// only in Marathon's bookkeeping (a restart moves the version, not the definition).
std::string LiveDigest(const nlohmann::json& body);

// The app carries galley.platform=<platform>.
bool Labelled(const nlohmann::json& body, const std::string& platform);

// `live` with galley's own labels (galley.platform, galley.config-digest) as `applied` has
// them: how an adopted app, which gets the labels only with its next real change, compares.
nlohmann::json WithRecordedLabels(nlohmann::json live, const nlohmann::json& applied);

// Normalisation drops values equal to Marathon's defaults, so a change to or from a default
// (scaling to 1 instance) would read "(absent)": show the raw value instead where the raw
// body has it.
void ShowDefaults(std::vector<FieldChange>& changes, const nlohmann::json& raw_before,
                  const nlohmann::json& raw_after);

}  // namespace galley::engine
