// SPDX-License-Identifier: Apache-2.0
// Small helpers shared by the Marathon emulator: Marathon timestamps and UUIDs, query
// booleans as Jersey reads them, JSON error responses in Marathon's shapes, and basic-auth
// decoding. Thread-safe (the clock and the UUID generator are internally synchronised).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/uuid.h"
#include "net/http_types.h"
#include "sandbox/common/json_depth.h"

namespace galley::sandbox::marathon {

using Json = nlohmann::json;

// Wall-clock time as Marathon writes it: "2015-09-25T15:13:48.343Z".
std::string FormatTimestamp(int64_t unix_millis);
int64_t NowMillis();
// A strictly increasing "now" for app and deployment versions, so two changes within
// one millisecond still get distinct, ordered versions.
std::string NextVersion();
// Parses "2015-09-25T15:13:48.343Z" or "...48Z" (also "+00:00"); nullopt when malformed.
std::optional<int64_t> ParseTimestamp(std::string_view s);

using galley::NewUuid;  // base/uuid.h

// Java Boolean.valueOf: "true" in any case is true, anything else (or absent) false.
// `absent` is returned when the parameter is missing.
bool QueryBool(const net::HttpRequest& req, std::string_view name, bool absent);

// {"message": m} with application/json.
net::HttpResponse Error(int status, const std::string& message);
net::HttpResponse JsonResponse(int status, const Json& body);
// The body as JSON text (already serialised).
net::HttpResponse RawJson(int status, std::string body);
// Jackson's default maximum nesting depth: request bodies nested deeper are refused with
// TooDeep() (400 "Invalid JSON") before they are parsed.
constexpr int kMaxJsonDepth = 1000;
net::HttpResponse TooDeep();

// Marathon's double formatting is the JSON number; this keeps integers integral ("1" not
// "1.0") for fields that are doubles in the model but were given as integers.
bool IsJsonNumber(const Json& j);

}  // namespace galley::sandbox::marathon
