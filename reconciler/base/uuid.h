// SPDX-License-Identifier: Apache-2.0
// Random values from OpenSSL's CSPRNG (RAND_bytes; fork-safe, reseeded by OpenSSL): random
// RFC 4122 version-4 UUIDs, lower-case hex ("6b3a...-...."), for ids that only need to be
// unique (deployments, sessions, task ids), and random keys. Thread-safe.
#pragma once

#include <cstddef>
#include <string>

namespace galley {

std::string NewUuid();

// `bytes` random bytes as lower-case hex (2 × bytes characters): keys, nonces.
std::string RandomHex(size_t bytes);

}  // namespace galley
