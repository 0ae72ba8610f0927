// SPDX-License-Identifier: Apache-2.0
// Random RFC 4122 version-4 UUIDs, lower-case hex ("6b3a...-...."), for ids that only need
// to be unique (deployments, sessions, task ids). Thread-safe.
#pragma once

#include <string>

namespace galley {

std::string NewUuid();

}  // namespace galley
