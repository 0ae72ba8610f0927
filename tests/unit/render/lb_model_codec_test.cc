// SPDX-License-Identifier: Apache-2.0
#include "render/lb_model_codec.h"

#include <string>

#include <gtest/gtest.h>

namespace galley::render {
namespace {

// A JSON-like document of `n` bytes that compresses like a model (repetitive, not trivial).
std::string Document(size_t n) {
  std::string s = "{\"services\":[";
  for (int i = 0; s.size() < n; ++i) {
    s += "{\"name\":\"svc-" + std::to_string(i) +
         "\",\"port\":" + std::to_string(10000 + i % 50000) + "},";
  }
  s.resize(n - 2);
  s += "]}";
  return s;
}

TEST(LbModelCodec, SmallDocumentsStayPlainJson) {
  std::string small = Document(1000);
  EXPECT_EQ(EncodeLbModelValue(small), small);
  std::string at = Document(kLbModelCompressAbove);
  EXPECT_EQ(EncodeLbModelValue(at), at);
  auto back = DecodeLbModelValue(at, "galley/p/haproxy/edge");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, at);
}

TEST(LbModelCodec, LargeDocumentsAreGzipAndRoundTrip) {
  std::string doc = Document(kLbModelCompressAbove + 1);
  std::string stored = EncodeLbModelValue(doc);
  ASSERT_TRUE(IsGzipValue(stored));
  EXPECT_LT(stored.size(), doc.size() / 3);
  auto back = DecodeLbModelValue(stored, "k");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, doc);

  std::string big = Document(3 * 1024 * 1024);
  auto big_back = DecodeLbModelValue(EncodeLbModelValue(big), "k");
  ASSERT_TRUE(big_back.ok()) << big_back.status().message();
  EXPECT_EQ(*big_back, big);
}

TEST(LbModelCodec, DeterministicWithNoNameAndNoTime) {
  std::string doc = Document(200 * 1024);
  std::string a = EncodeLbModelValue(doc);
  std::string b = EncodeLbModelValue(std::string(doc));
  EXPECT_EQ(a, b);
  ASSERT_GE(a.size(), 10u);
  EXPECT_EQ(static_cast<unsigned char>(a[2]), 8);   // deflate
  EXPECT_EQ(static_cast<unsigned char>(a[3]), 0);   // no FNAME, FCOMMENT, FEXTRA
  EXPECT_EQ(a.substr(4, 4), std::string(4, '\0'));  // mtime 0
}

TEST(LbModelCodec, CorruptDataIsAnErrorNamingTheKey) {
  std::string stored = EncodeLbModelValue(Document(100 * 1024));
  std::string bad = stored;
  for (size_t i = 20; i < 60; ++i) bad[i] = static_cast<char>(bad[i] ^ 0x5a);
  auto r = DecodeLbModelValue(bad, "galley/p/haproxy/edge");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("galley/p/haproxy/edge"), std::string::npos);

  // A CRC mismatch: the deflate data intact, the trailer's CRC changed.
  std::string crc = stored;
  crc[crc.size() - 8] = static_cast<char>(crc[crc.size() - 8] ^ 1);
  EXPECT_FALSE(DecodeLbModelValue(crc, "k").ok());

  std::string trailing = stored + "junk";
  auto t = DecodeLbModelValue(trailing, "k");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("after the end"), std::string::npos);
}

TEST(LbModelCodec, TruncatedDataIsAnError) {
  std::string stored = EncodeLbModelValue(Document(100 * 1024));
  for (size_t keep : {size_t{2}, size_t{10}, stored.size() / 2, stored.size() - 1}) {
    auto r = DecodeLbModelValue(stored.substr(0, keep), "galley/p/haproxy/edge");
    ASSERT_FALSE(r.ok()) << keep;
    EXPECT_NE(r.status().message().find("galley/p/haproxy/edge"), std::string::npos);
  }
}

TEST(LbModelCodec, InflateBombOverTheCapIsRefused) {
  std::string zeros(8 * 1024 * 1024, '0');
  std::string stored = EncodeLbModelValue(zeros);
  ASSERT_LT(stored.size(), 64 * 1024u);
  auto r = DecodeLbModelValue(stored, "galley/p/haproxy/edge", 1024 * 1024);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("more than 1048576 bytes"), std::string::npos);
  // Exactly at the cap is fine.
  auto ok = DecodeLbModelValue(stored, "k", zeros.size());
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->size(), zeros.size());
}

TEST(LbModelCodec, NonGzipValuesAreReturnedAsTheyAre) {
  for (std::string v : {std::string(""), std::string("x"), std::string("\x1f", 1),
                        std::string("not json"), std::string("\x8b\x1f", 2)}) {
    auto r = DecodeLbModelValue(v, "k");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, v);
  }
}

}  // namespace
}  // namespace galley::render
