// SPDX-License-Identifier: Apache-2.0
// SHA-256 and HMAC-SHA256 as lower-case hex (OpenSSL). Pure, thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace galley {

std::string Sha256Hex(std::string_view data);
std::string HmacSha256Hex(std::string_view key, std::string_view data);

}  // namespace galley
