// SPDX-License-Identifier: Apache-2.0
// KV → environment, the core of galley-wrapper (service-wrapper.sh's job): turns the JSON
// that Consul answers to `GET /v1/kv/<prefix>/?recurse` into environment variables, one
// per key, named by the key's last path segment, with the base64 value decoded.
// Pure functions; thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace galley::container {

struct KvEnvironment {
  std::map<std::string, std::string> vars;  // NAME → decoded value
  std::vector<std::string> warnings;        // one line per key that was skipped, and why
};

// "/app/x/y/" → "app/x/y": without leading or trailing slashes.
std::string NormalizePrefix(std::string_view prefix);

// True for names matching [A-Za-z_][A-Za-z0-9_]*.
bool IsEnvName(std::string_view name);

// Standard base64 (RFC 4648, '=' padding optional); fails on other characters.
Result<std::string> DecodeBase64(std::string_view text);

// Parses a recurse response for `prefix` (normalised). Keys outside the prefix, folder
// entries ("a/b/"), names that are not environment names and values containing NUL bytes
// are skipped with a warning; a null Value is the empty string. When two keys share a last
// segment, the one nearer the prefix wins (then the first in key order). Fails only when
// the body is not a JSON array of objects with a string "Key".
Result<KvEnvironment> EnvironmentFromKv(std::string_view json_body, std::string_view prefix);

}  // namespace galley::container
