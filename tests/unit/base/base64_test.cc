// SPDX-License-Identifier: Apache-2.0
#include "base/base64.h"

#include <gtest/gtest.h>

namespace galley {
namespace {

TEST(Base64Test, RoundTripsEveryLengthModuloThree) {
  for (std::string s : {std::string(), std::string("f"), std::string("fo"), std::string("foo"),
                        std::string("foob"), std::string("\x00\xff\x10", 3)}) {
    auto back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
}

TEST(Base64Test, StrictLikeGoWithItsErrorPositions) {
  EXPECT_EQ(*Base64Decode("Zm9v\r\nYmFy"), "foobar");  // CR/LF ignored
  EXPECT_EQ(Base64Decode("Zm8").status().message(), "illegal base64 data at input byte 0");
  EXPECT_EQ(Base64Decode("Zm9v!mFy").status().message(), "illegal base64 data at input byte 4");
  EXPECT_EQ(Base64Decode("Zm8=Zm8=").status().message(), "illegal base64 data at input byte 4");
  EXPECT_FALSE(Base64Decode("Z===").ok());
}

// One decoder with explicit strictness instead of a second, lenient copy in clients/.
TEST(Base64Test, PaddingOptionalAcceptsAnUnpaddedLastGroupOnly) {
  constexpr auto kLenient = Base64Strictness::kPaddingOptional;
  EXPECT_EQ(*Base64Decode("Zm8", kLenient), "fo");
  EXPECT_EQ(*Base64Decode("Zm9vYg", kLenient), "foob");
  EXPECT_EQ(*Base64Decode("Zm9vYmE", kLenient), "fooba");
  EXPECT_EQ(*Base64Decode("Zm8=", kLenient), "fo");
  EXPECT_EQ(*Base64Decode("Zm9v\r\nYg", kLenient), "foob");
  EXPECT_EQ(*Base64Decode("", kLenient), "");
  EXPECT_FALSE(Base64Decode("Z", kLenient).ok());  // one character is never a group
  EXPECT_FALSE(Base64Decode("Zm9vY", kLenient).ok());
  EXPECT_FALSE(Base64Decode("Zm8==", kLenient).ok());  // wrong padding is still wrong
  EXPECT_EQ(Base64Decode("Zm9v!m", kLenient).status().message(),
            "illegal base64 data at input byte 4");
  EXPECT_FALSE(Base64Decode("Zm8").ok());  // strict by default
}

}  // namespace
}  // namespace galley
