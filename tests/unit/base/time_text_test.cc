// SPDX-License-Identifier: Apache-2.0
// galley's one timestamp format, read back exactly, and the elapsed-time text of its tables.
#include "base/time_text.h"

#include <chrono>

#include <gtest/gtest.h>

namespace galley {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

system_clock::time_point At(int64_t ms) { return system_clock::time_point(milliseconds(ms)); }

TEST(TimestampTest, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(FormatTimestamp(At(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(At(1795780800123)), "2026-11-27T12:00:00.123Z");
  EXPECT_EQ(FormatTimestamp(At(-1)), "1969-12-31T23:59:59.999Z");  // floored, not toward zero
  EXPECT_EQ(FormatTimestamp(At(1000) + std::chrono::microseconds(999)), "1970-01-01T00:00:01.000Z");
}

TEST(TimestampTest, ParsesWhatItFormats) {
  for (int64_t ms : {int64_t{0}, int64_t{1795780800123}, int64_t{951782400999}, int64_t{-1}}) {
    auto back = ParseTimestamp(FormatTimestamp(At(ms)));
    ASSERT_TRUE(back.has_value()) << ms;
    EXPECT_EQ(*back, At(ms));
  }
  EXPECT_EQ(ParseTimestamp("2026-11-27T12:00:00Z"), At(1795780800000));
  EXPECT_EQ(ParseTimestamp("2026-11-27T12:00:00.5Z"), At(1795780800500));
  EXPECT_EQ(ParseTimestamp("2026-11-27T12:00:00.123456789Z"), At(1795780800123));
}

TEST(TimestampTest, RefusesOtherText) {
  for (const char* bad :
       {"", "2026-11-27", "2026-11-27T12:00:00.123", "2026-11-27T12:00:00.123+01:00",
        "2026-11-27T12:00:00.Z", "2026-11-27T12:00:00.123Zjunk", "2026-13-27T12:00:00.123Z",
        "not a time at all, not at all"}) {
    EXPECT_FALSE(ParseTimestamp(bad).has_value()) << bad;
  }
}

TEST(ElapsedTest, BetweenTwoTimestamps) {
  EXPECT_EQ(Elapsed("2026-11-27T12:00:00.000Z", "2026-11-27T12:02:05.400Z"), milliseconds(125400));
  EXPECT_FALSE(
      Elapsed("2026-11-27T12:00:01.000Z", "2026-11-27T12:00:00.000Z").has_value());  // backwards
  EXPECT_FALSE(Elapsed("", "2026-11-27T12:00:00.000Z").has_value());
}

TEST(ElapsedTest, TextForTables) {
  EXPECT_EQ(FormatElapsed(milliseconds(0)), "0.0s");
  EXPECT_EQ(FormatElapsed(milliseconds(400)), "0.4s");
  EXPECT_EQ(FormatElapsed(milliseconds(12399)), "12.3s");
  EXPECT_EQ(FormatElapsed(milliseconds(59999)), "59.9s");
  EXPECT_EQ(FormatElapsed(milliseconds(60000)), "1m00s");
  EXPECT_EQ(FormatElapsed(milliseconds(125400)), "2m05s");
  EXPECT_EQ(FormatElapsed(milliseconds(3720000)), "1h02m");
  EXPECT_EQ(FormatElapsed(milliseconds(-5)), "0.0s");
}

}  // namespace
}  // namespace galley
