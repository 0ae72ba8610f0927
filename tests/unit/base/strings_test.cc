// SPDX-License-Identifier: Apache-2.0
#include "base/strings.h"

#include <gtest/gtest.h>

namespace galley {
namespace {

TEST(EditDistanceTest, CountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(EditDistance("image", "image"), 0);
  EXPECT_EQ(EditDistance("imgae", "image"), 2);
  EXPECT_EQ(EditDistance("imag", "image"), 1);
  EXPECT_EQ(EditDistance("", "abc"), 3);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3);
}

TEST(EditDistanceTest, StopsEarlyPastTheBound) {
  EXPECT_EQ(EditDistance("abcdefgh", "zzzzzzzz", 2), 3);
}

TEST(ClosestMatchTest, SuggestsNearKeysOnly) {
  std::vector<std::string> keys = {"name", "image", "resources", "environments", "health"};
  EXPECT_EQ(ClosestMatch("imgae", keys), "image");
  EXPECT_EQ(ClosestMatch("enviroments", keys), "environments");
  EXPECT_EQ(ClosestMatch("helth", keys), "health");
  EXPECT_EQ(ClosestMatch("completely-different", keys), "");
  EXPECT_EQ(ClosestMatch("x", keys), "");
}

TEST(Utf8Test, FindsTheFirstInvalidSequence) {
  EXPECT_EQ(FindInvalidUtf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(FindInvalidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), std::string_view::npos);
  EXPECT_EQ(FindInvalidUtf8("ab\xff"), 2u);
  EXPECT_EQ(FindInvalidUtf8("ab\xc3"), 2u);            // truncated
  EXPECT_EQ(FindInvalidUtf8("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(FindInvalidUtf8("x\xed\xa0\x80"), 1u);     // surrogate
  EXPECT_EQ(FindInvalidUtf8("\xf4\x90\x80\x80"), 0u);  // past U+10FFFF
}

TEST(StringsTest, SplitsAndJoins) {
  EXPECT_EQ(Split("a,b,,c", ','), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(Join({"a", "b"}, ", "), "a, b");
  EXPECT_EQ(Quote("a\nb\x01"), "'a\\nb\\x01'");
}

TEST(StringsTest, JoinsNothingAndOne) {
  EXPECT_EQ(Join({}, ", "), "");
  EXPECT_EQ(Join({"a"}, ", "), "a");
}

TEST(PrintableTest, NoControlOrInvisibleCharacterGetsThrough) {
  EXPECT_EQ(Printable("plain text"), "plain text");
  EXPECT_EQ(Printable("eve\n\x1b[2Jx\x7f"), "eve??[2Jx?");
  EXPECT_EQ(Printable("a\xe2\x80\xae"
                      "b"),
            "a\\u202eb");                              // RIGHT-TO-LEFT OVERRIDE escaped
  EXPECT_EQ(Printable("caf\xc3\xa9"), "caf\xc3\xa9");  // visible non-ASCII stays
  // Built with append, not `std::string(197, 'x') + "..."`: GCC 12 at -O2 gives a false
  // -Warray-bounds on operator+ of a temporary (a known GCC 12 false positive).
  std::string cut(197, 'x');
  cut.append("...");
  EXPECT_EQ(Printable(std::string(300, 'x'), 200), cut);
  EXPECT_EQ(Printable("short", 200), "short");
}

TEST(TruncateTest, CutsWithinTheBoundAndNeverInsideACharacter) {
  EXPECT_EQ(Truncate("abcdef", 6), "abcdef");
  EXPECT_EQ(Truncate("abcdefg", 6), "abc...");
  // "é" is two bytes at offsets 2-3: a cut at 3 would split it.
  EXPECT_EQ(Truncate("ab\xc3\xa9"
                     "defgh",
                     6),
            "ab...");
  EXPECT_EQ(Truncate("abcdef", 2), "...");
  EXPECT_EQ(Truncate("", 0), "");
}

TEST(ShortCommitTest, TwelveDigitsKeepingTheDirtyMark) {
  EXPECT_EQ(ShortCommit("3f61674b7e35aa00112233445566778899aabbcc"), "3f61674b7e35");
  EXPECT_EQ(ShortCommit("3f61674b7e35aa00112233445566778899aabbcc-dirty"), "3f61674b7e35-dirty");
  EXPECT_EQ(ShortCommit("abc"), "abc");
  EXPECT_EQ(ShortCommit("abc-dirty"), "abc-dirty");
  EXPECT_EQ(ShortCommit("-dirty"), "-dirty");
  EXPECT_EQ(ShortCommit(""), "");
}

}  // namespace
}  // namespace galley
