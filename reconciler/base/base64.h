// SPDX-License-Identifier: Apache-2.0
// galley's one base64: the standard alphabet with padding, as Consul (Go's
// base64.StdEncoding) and HTTP basic auth use it. Decoding is strict by default (padding
// required; CR/LF ignored) and reports the offending position like Go: "illegal base64 data
// at input byte N". Pure.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace galley {

std::string Base64Encode(std::string_view bytes);
// How strict Base64Decode is about the last group. kStrict: padding required (Go's
// StdEncoding; what Consul writes, what the emulators accept). kPaddingOptional: an
// unpadded last group is accepted too (galley's clients reading Consul's answers, which
// some proxies re-encode without '=').
enum class Base64Strictness { kStrict, kPaddingOptional };
Result<std::string> Base64Decode(std::string_view text,
                                 Base64Strictness strictness = Base64Strictness::kStrict);

}  // namespace galley
