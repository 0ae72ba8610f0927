// SPDX-License-Identifier: Apache-2.0
// Codec helpers for the Consul emulator: Go-compatible duration parsing and printing,
// strict base64 (Go's StdEncoding), strconv-style integer and boolean parsing with Go's
// error texts, case- and underscore-insensitive JSON field lookup (Consul decodes request
// bodies that way, and python-consul sends lower-case keys), UUIDs and JSON output that
// never throws on invalid UTF-8. Pure functions; thread-safe (NewUuid locks its generator).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "base/duration.h"
#include "base/status.h"
#include "base/uuid.h"

namespace galley::sandbox::consul {

using Duration = std::chrono::nanoseconds;

// Go's time.ParseDuration and Duration.String() are galley's one duration grammar
// (base/duration.h), shared with the CLI's flags and the YAML files.
using galley::FormatGoDuration;
using galley::ParseGoDuration;

// Go's base64.StdEncoding lives in base/ (shared with galley's own clients).
using galley::Base64Decode;
using galley::Base64Encode;

// strconv.ParseUint(s, 10, 64) with Go's error text.
Result<uint64_t> ParseUint64(std::string_view s);
// strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False.
Result<bool> ParseGoBool(std::string_view s);

using galley::NewUuid;  // base/uuid.h
std::string Lower(std::string_view s);
bool EqualFold(std::string_view a, std::string_view b);

// The value of `name` in a JSON object, matching keys case-insensitively and ignoring
// underscores ("enable_tag_override" finds EnableTagOverride); nullptr when absent or
// when `obj` is not an object.
const nlohmann::json* Field(const nlohmann::json& obj, std::string_view name);

// Typed accessors for request bodies. An absent key or JSON null leaves *out unchanged;
// a value of the wrong type gives kInvalidArgument with a Go-decoder-like message.
Status GetString(const nlohmann::json& obj, std::string_view name, std::string* out);
Status GetBool(const nlohmann::json& obj, std::string_view name, bool* out);
Status GetInt(const nlohmann::json& obj, std::string_view name, int64_t* out);
Status GetUint(const nlohmann::json& obj, std::string_view name, uint64_t* out);
Status GetStringList(const nlohmann::json& obj, std::string_view name,
                     std::vector<std::string>* out);
Status GetStringMap(const nlohmann::json& obj, std::string_view name,
                    std::map<std::string, std::string>* out);
// A Go time.Duration field: a duration string or an integer of nanoseconds.
Status GetDuration(const nlohmann::json& obj, std::string_view name, Duration* out);

// Serialises without throwing (invalid UTF-8 is replaced, as Go's encoder does).
std::string Dump(const nlohmann::json& j);
// Appends `s` as a JSON string literal (quotes included).
void AppendJsonString(std::string* out, std::string_view s);

}  // namespace galley::sandbox::consul
