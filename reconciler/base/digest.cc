// SPDX-License-Identifier: Apache-2.0
#include "base/digest.h"

#include <cstdlib>
#include <memory>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace galley {
namespace {

std::string Hex(const unsigned char* p, size_t n) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

// OpenSSL 3 looks an algorithm up by name in its provider tables whenever it is used through
// the convenience calls (EVP_sha256() with EVP_Digest, HMAC(), EVP_Q_mac): at 2,000 × 3 that
// lookup was 7-10 % of a plan (issue #14). The algorithms are fetched once per process and each
// thread keeps one reusable context.
const EVP_MD* Sha256() {
  static EVP_MD* md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (m == nullptr) std::abort();  // libcrypto without SHA-256: nothing can work
    return m;
  }();
  return md;
}

EVP_MAC* Hmac() {
  static EVP_MAC* mac = [] {
    EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (m == nullptr) std::abort();
    return m;
  }();
  return mac;
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// One thread's HMAC context, keyed with the last key it was used with (galley uses one key
// per run, so re-keying is rare).
struct HmacState {
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx;
  std::string key;
  bool keyed = false;
};

}  // namespace

std::string Sha256HexOfParts(std::initializer_list<std::string_view> parts) {
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), Sha256(), nullptr) != 1) std::abort();
  for (std::string_view part : parts) {
    if (EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1) std::abort();
  }
  // Only on allocation failure inside libcrypto.
  if (EVP_DigestFinal_ex(ctx.get(), md, &n) != 1) std::abort();
  return Hex(md, n);
}

std::string Sha256Hex(std::string_view data) { return Sha256HexOfParts({data}); }

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  thread_local HmacState state;
  if (!state.ctx) state.ctx.reset(EVP_MAC_CTX_new(Hmac()));
  if (!state.ctx) std::abort();
  char digest_name[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                         OSSL_PARAM_construct_end()};
  // A new key is set with its digest; the same key again re-initialises with the key kept.
  bool rekey = !state.keyed || state.key != key;
  // HMAC refuses a NULL key pointer even when the length is 0: give it a valid one.
  static const unsigned char kEmpty = 0;
  const unsigned char* k =
      key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  int ok = rekey ? EVP_MAC_init(state.ctx.get(), k, key.size(), params)
                 : EVP_MAC_init(state.ctx.get(), nullptr, 0, nullptr);
  if (ok != 1) std::abort();
  if (rekey) {
    state.key.assign(key);
    state.keyed = true;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  size_t n = 0;
  if (EVP_MAC_update(state.ctx.get(), reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1 ||
      EVP_MAC_final(state.ctx.get(), md, &n, sizeof md) != 1) {
    std::abort();
  }
  return Hex(md, n);
}

}  // namespace galley
