// SPDX-License-Identifier: Apache-2.0
// Reads Consul's KV listing (GET /v1/kv/<prefix>?recurse: a JSON array of
// {"Key", "Value" (base64 or null), "Flags", "ModifyIndex", "Session", ...}) straight into
// LiveKvEntry values, without building a JSON document first: at 2,000 services x 3
// environments the listing of galley's applied records is 12 MB of base64, and a document
// of it cost more than the entries themselves.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "model/live_state.h"

namespace galley::clients::internal {

// The entries sorted by key. Invalid JSON fails as ParseJsonBody does ("<context>: invalid
// JSON in response (byte N): ..."); then, in this order, a body that is not an array, the
// first entry without a string Key, the first Value that is neither null nor base64 text
// (padding optional). Key, Session: strings, else empty; Flags, ModifyIndex: non-negative
// integers, else 0 (negative ones 0); other members and nested values are skipped; a member
// given twice counts once, the later one.
Result<std::vector<model::LiveKvEntry>> ParseKvListing(const std::string& body,
                                                       const std::string& context);

}  // namespace galley::clients::internal
