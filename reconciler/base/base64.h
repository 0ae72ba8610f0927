// SPDX-License-Identifier: Apache-2.0
// Base64 with the standard alphabet and padding, as Consul (Go's base64.StdEncoding) and
// HTTP basic auth use it. Decoding is strict (padding required; CR/LF ignored) and reports
// the offending position like Go: "illegal base64 data at input byte N". Pure.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace galley {

std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text);

}  // namespace galley
