// SPDX-License-Identifier: Apache-2.0
// How an LB model document (render/lb_model.h) is stored as a Consul KV value. Consul caps a
// value (kv_max_value_size) and a transaction request (txn_max_req_len, where values travel
// in base64) at 512 KiB by default, and the model of a platform with thousands of services is
// larger than that. So a document over kLbModelCompressAbove bytes is stored as a gzip stream
// (RFC 1952: deflate at a fixed level, no file name, mtime 0, so the same document always
// gives the same bytes); a smaller one stays plain JSON. Readers tell the two apart by the
// gzip magic (1f 8b: a JSON document starts with '{'). The model's digest is always that of
// the document, never of the stored bytes. Pure; values.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.h"

namespace galley::render {

inline constexpr size_t kLbModelCompressAbove = 64 * 1024;       // bytes of JSON
inline constexpr size_t kLbModelMaxInflated = 64 * 1024 * 1024;  // a reader's hard cap
inline constexpr size_t kConsulKvMaxValueSize = 512 * 1024;      // Consul's default

// The value to store for `document`: the document itself when it is at most
// kLbModelCompressAbove bytes, its gzip stream otherwise. Deterministic.
std::string EncodeLbModelValue(std::string_view document);

// Whether `value` starts with the gzip magic.
bool IsGzipValue(std::string_view value);

// The document stored in `value`: the value itself unless it starts with the gzip magic,
// else the inflated stream. Errors (kInvalidArgument, naming `key`): corrupt or truncated
// data, trailing bytes, a CRC or length mismatch, more than `max_inflated` bytes inflated.
[[nodiscard]] Result<std::string> DecodeLbModelValue(std::string_view value, std::string_view key,
                                                     size_t max_inflated = kLbModelMaxInflated);

}  // namespace galley::render
