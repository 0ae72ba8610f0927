// SPDX-License-Identifier: Apache-2.0
// SHA-256 and HMAC-SHA256 as lower-case hex (OpenSSL). Pure, thread-safe.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace galley {

std::string Sha256Hex(std::string_view data);
// The sha256 of the parts one after the other (without joining them into one string first).
std::string Sha256HexOfParts(std::initializer_list<std::string_view> parts);
std::string HmacSha256Hex(std::string_view key, std::string_view data);

}  // namespace galley
