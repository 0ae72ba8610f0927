// SPDX-License-Identifier: Apache-2.0
// SHA-256 and HMAC-SHA256 against published vectors (FIPS 180-2, RFC 4231), including what the
// per-thread contexts must not get wrong: a change of key between calls, an empty key, and
// several threads at once.
#include "base/digest.h"

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace galley {
namespace {

TEST(DigestTest, Sha256KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(DigestTest, HmacSha256Rfc4231AndKeyChangesBetweenCalls) {
  // RFC 4231 test case 1: 20 × 0x0b, "Hi There".
  const std::string key1(20, '\x0b');
  const std::string want1 = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
  // Test case 2: "Jefe", "what do ya want for nothing?".
  const std::string want2 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  // Test case 6: a 131-byte key (longer than the block: hashed first).
  const std::string key6(131, '\xaa');
  const std::string want6 = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
  for (int round = 0; round < 3; ++round) {  // the cached key must follow every change
    EXPECT_EQ(HmacSha256Hex(key1, "Hi There"), want1);
    EXPECT_EQ(HmacSha256Hex(key1, "Hi There"), want1);
    EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"), want2);
    EXPECT_EQ(HmacSha256Hex(key6, "Test Using Larger Than Block-Size Key - Hash Key First"), want6);
  }
  // An empty key is a valid HMAC key (Python: hmac.new(b"", b"", sha256)).
  EXPECT_EQ(HmacSha256Hex("", ""),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  EXPECT_EQ(HmacSha256Hex(key1, "Hi There"), want1);
}

TEST(DigestTest, ThreadsEachGetTheRightAnswer) {
  const std::string want = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        std::string key = t % 2 ? std::string(20, '\x0b') : "Jefe";
        std::string got = HmacSha256Hex(key, t % 2 ? "Hi There" : "what do ya want for nothing?");
        if (got !=
            (t % 2 ? want : "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"))
          ++wrong[t];
        if (Sha256Hex("abc") != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
          ++wrong[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace galley
