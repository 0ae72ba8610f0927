// SPDX-License-Identifier: Apache-2.0
// Rules that span fields or files: unique names, listen-port collisions after the
// environment prefix, declared environments only, Marathon id segments, host names,
// tags that would collide with generated ones, secrets kept out of the repository, and the
// zero-downtime warning (task kill grace vs. HAProxy's detection time). Pure.
#pragma once

#include <string>

#include "base/diagnostics.h"
#include "model/desired_state.h"

namespace galley::spec {

// HAProxy timing galley renders; the zero-downtime warning is computed from these.
inline constexpr int kHaproxyCheckTimeoutS = 5;  // `timeout check` in the fixed defaults
inline constexpr int kHaproxyFall = 1;           // `fall 1` on every service server
inline constexpr int kDrainAllowanceS = 5;       // time for in-flight requests to finish
inline constexpr int kDefaultCheckIntervalS = 10;

// `repo_dir` is used to refuse secret files inside the repository; empty skips that rule.
void CheckSemantics(const model::DesiredState& state, const std::string& repo_dir,
                    Diagnostics& diags);

// Shared predicates, also used by tests and by `render` argument checks.
bool IsMarathonIdSegment(const std::string& s);
bool IsHostName(const std::string& s);
bool IsConfigKey(const std::string& s);
bool IsImageTag(const std::string& s);

}  // namespace galley::spec
