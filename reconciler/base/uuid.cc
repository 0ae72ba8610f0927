// SPDX-License-Identifier: Apache-2.0
#include "base/uuid.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <openssl/rand.h>
#include <sys/random.h>

namespace galley {
namespace {

// OpenSSL's generator; getrandom(2) should it ever fail. Never a predictable value: without
// either there is no randomness to be had, and the process stops rather than make keys
// that could be guessed.
void RandomBytes(unsigned char* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) == 1) return;
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::getrandom(out + got, n - got, 0);
    if (r <= 0) {
      std::fputs("galley: no source of random bytes (RAND_bytes and getrandom failed)\n", stderr);
      std::abort();
    }
    got += static_cast<size_t>(r);
  }
}

}  // namespace

std::string NewUuid() {
  unsigned char b[16];
  RandomBytes(b, sizeof b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof(buf),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return buf;
}

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> b(bytes);
  if (bytes > 0) RandomBytes(b.data(), bytes);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : b) {
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  }
  return out;
}

}  // namespace galley
