// SPDX-License-Identifier: Apache-2.0
// Loader: reads a desired-state repository (DIR/galley.yaml and DIR/services/**/*.yaml),
// parses and validates every file, and returns the typed state together with every
// problem found, in one pass. Never throws. Thread-compatible.
#pragma once

#include <string>

#include "base/diagnostics.h"
#include "model/desired_state.h"

namespace galley::spec {

inline constexpr char kPlatformFile[] = "galley.yaml";
inline constexpr char kServicesDir[] = "services";
inline constexpr size_t kMaxServiceFiles = 20000;

struct LoadResult {
  model::DesiredState state;  // complete only when !diags.HasErrors()
  Diagnostics diags;
};

// Loads the repository at `dir`. Paths in diagnostics are `dir` joined with the file's
// path inside the repository, so they are clickable from the caller's directory.
LoadResult LoadRepository(const std::string& dir);

// Only DIR/galley.yaml, parsed and checked as LoadRepository does (state.services stays
// empty; the cross-file checks need the services and are LoadRepository's). For a caller
// that can start on the platform alone (`galley agent`'s load-balancer managers).
LoadResult LoadPlatformFile(const std::string& dir);

}  // namespace galley::spec
