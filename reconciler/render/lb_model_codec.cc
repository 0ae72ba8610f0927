// SPDX-License-Identifier: Apache-2.0
#include "render/lb_model_codec.h"

#include <algorithm>

#include <zlib.h>

namespace galley::render {
namespace {

constexpr int kLevel = 6;             // fixed: the same document always gives the same bytes
constexpr int kGzipWindow = 15 + 16;  // 32 KiB window, gzip wrapper (no name, mtime 0)
constexpr size_t kChunk = 64 * 1024;

Status Corrupt(std::string_view key, const std::string& why) {
  return Status::InvalidArgument("the LB model at " + std::string(key) +
                                 " is not a readable gzip stream: " + why);
}

}  // namespace

bool IsGzipValue(std::string_view value) {
  return value.size() >= 2 && static_cast<unsigned char>(value[0]) == 0x1f &&
         static_cast<unsigned char>(value[1]) == 0x8b;
}

std::string EncodeLbModelValue(std::string_view document) {
  if (document.size() <= kLbModelCompressAbove) return std::string(document);
  z_stream zs{};
  // deflateInit2 fails only on bad arguments or no memory; both are programming errors here.
  if (deflateInit2(&zs, kLevel, Z_DEFLATED, kGzipWindow, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return std::string(document);
  std::string out(deflateBound(&zs, static_cast<uLong>(document.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(document.data()));
  zs.avail_in = static_cast<uInt>(document.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);  // the bound fits the whole stream in one call
  size_t produced = out.size() - zs.avail_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return std::string(document);
  out.resize(produced);
  return out;
}

Result<std::string> DecodeLbModelValue(std::string_view value, std::string_view key,
                                       size_t max_inflated) {
  if (!IsGzipValue(value)) return std::string(value);
  z_stream zs{};
  if (inflateInit2(&zs, kGzipWindow) != Z_OK) return Corrupt(key, "zlib could not start");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(value.data()));
  zs.avail_in = static_cast<uInt>(value.size());
  std::string out;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (out.size() >= max_inflated) {
      inflateEnd(&zs);
      return Status::InvalidArgument("the LB model at " + std::string(key) +
                                     " inflates to more than " + std::to_string(max_inflated) +
                                     " bytes; not loaded");
    }
    size_t room = std::min(kChunk, max_inflated - out.size());
    size_t at = out.size();
    out.resize(at + room);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + at);
    zs.avail_out = static_cast<uInt>(room);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(at + (room - zs.avail_out));
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      inflateEnd(&zs);
      return Corrupt(key, "truncated (" + std::to_string(value.size()) + " bytes)");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      std::string why = zs.msg ? zs.msg : "error " + std::to_string(rc);
      inflateEnd(&zs);
      return Corrupt(key, why);
    }
  }
  size_t trailing = zs.avail_in;
  inflateEnd(&zs);
  if (trailing != 0)
    return Corrupt(key, std::to_string(trailing) + " bytes after the end of the stream");
  return out;
}

}  // namespace galley::render
