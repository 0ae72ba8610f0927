// SPDX-License-Identifier: Apache-2.0
// Url: the parts of an http:// or https:// URL that a client needs. Pure.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace galley::net {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6
  uint16_t port = 0;   // defaulted from the scheme when absent
  std::string target;  // path and query, at least "/"

  // Parses "http://host[:port][/path][?query]"; fails with kInvalidArgument.
  static Result<Url> Parse(const std::string& text);
  // "http://host:port" (no path).
  std::string Origin() const;
};

// `text` with everything between the scheme and its last '@' (the user information,
// "user:password@") replaced by "***@", for messages: a URL is never printed with its
// credentials, even one whose password holds '/' or '?'. Works on "host:port" forms too.
std::string RedactUrl(const std::string& text);

}  // namespace galley::net
