// SPDX-License-Identifier: Apache-2.0
// `jobs:` in a service file (Chronos jobs, issue #16; schema/README.md "jobs"): each job's
// keys, its per-environment overrides, and the checks that need only the job itself (ISO 8601
// schedule and epsilon, time zone, names, ranges). Rules across jobs and services (parents,
// cycles, name clashes, schedule vs parents vs hook) are in CheckJobs. Pure.
#pragma once

#include "base/diagnostics.h"
#include "model/desired_state.h"
#include "spec/reader.h"

namespace galley::spec {

// Parses `f` (the `jobs:` field) into s.jobs; s.environments must already be parsed (a job
// without its own `environments:` exists in every environment of the service).
void ParseJobs(Reader& r, const Field& f, model::Service& s);

// Cross-job rules over the whole desired state, each error at the offending key.
void CheckJobs(const model::DesiredState& state, Diagnostics& diags);

// A job's short name: lower-case letters, digits and '-', starting with a letter or digit,
// at most 63 characters.
bool IsJobName(const std::string& s);

}  // namespace galley::spec
