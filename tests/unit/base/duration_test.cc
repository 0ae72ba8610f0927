// SPDX-License-Identifier: Apache-2.0
// Durations: galley's one grammar for flags and files (ParseDuration), and Go's, which it
// narrows and the Consul emulator speaks (ParseGoDuration).
#include "base/duration.h"

#include <gtest/gtest.h>

namespace galley {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(DurationTest, GalleyGrammarIsWholeHoursMinutesSecondsInOrder) {
  EXPECT_EQ(ParseDuration("30s").value(), seconds(30));
  EXPECT_EQ(ParseDuration("5m").value(), minutes(5));
  EXPECT_EQ(ParseDuration("1h0m5s").value(), seconds(3605));  // issue #10: refused by --deadline
  EXPECT_EQ(ParseDuration("1h30m").value(), minutes(90));
  EXPECT_EQ(ParseDuration("2h5s").value(), seconds(7205));
  EXPECT_EQ(ParseDuration("0s").value(), seconds(0));
  EXPECT_EQ(ParseDuration("999999999s").value(), seconds(999999999));
}

TEST(DurationTest, GalleyGrammarSaysWhatIsWrong) {
  auto why = [](const char* s) { return ParseDuration(s).status().message(); };
  EXPECT_EQ(why("10"), "time: missing unit in duration \"10\"");
  EXPECT_EQ(why("1d"), "time: unknown unit \"d\" in duration \"1d\"");
  EXPECT_EQ(why(""), "time: invalid duration \"\"");
  EXPECT_EQ(why("1s2m"),
            "duration \"1s2m\": units out of order (galley takes whole hours, minutes and seconds "
            "in that order, "
            "such as 1h30m or 1h0m5s)");
  EXPECT_NE(why("1m1m").find("units out of order"), std::string::npos);
  EXPECT_NE(why("500ms").find("a unit shorter than a second"), std::string::npos);
  EXPECT_NE(why("1.5h").find("a fraction"), std::string::npos);
  EXPECT_NE(why(".5h").find("a fraction"), std::string::npos);
  EXPECT_NE(why("-5s").find("a sign"), std::string::npos);
  EXPECT_NE(why("+5s").find("a sign"), std::string::npos);
  EXPECT_NE(why("0").find("a number without a unit"), std::string::npos);
  EXPECT_NE(why("1000000000s").find("more than 9 digits"), std::string::npos);
  EXPECT_FALSE(ParseDuration("1h 5m").ok());
}

TEST(DurationTest, GoGrammar) {
  EXPECT_EQ(ParseGoDuration("1h30m").value(), minutes(90));
  EXPECT_EQ(ParseGoDuration("1.5h").value(), minutes(90));
  EXPECT_EQ(ParseGoDuration(".5s").value(), milliseconds(500));
  EXPECT_EQ(ParseGoDuration("300ms").value(), milliseconds(300));
  EXPECT_EQ(ParseGoDuration("2us").value(), nanoseconds(2000));
  EXPECT_EQ(ParseGoDuration("2\xC2\xB5s").value(), nanoseconds(2000));
  EXPECT_EQ(ParseGoDuration("7ns").value(), nanoseconds(7));
  EXPECT_EQ(ParseGoDuration("0").value(), nanoseconds(0));
  EXPECT_EQ(ParseGoDuration("-1m").value(), -minutes(1));
  EXPECT_EQ(ParseGoDuration("1s1m").value(), seconds(61));
  EXPECT_EQ(ParseGoDuration("10").status().message(), "time: missing unit in duration \"10\"");
  EXPECT_FALSE(ParseGoDuration("1..5s").ok());
  EXPECT_FALSE(ParseGoDuration("-").ok());
  EXPECT_FALSE(ParseGoDuration("99999999999h").ok());  // beyond int64 nanoseconds
}

TEST(DurationTest, FormatsAsGo) {
  EXPECT_EQ(FormatGoDuration(hours(24)), "24h0m0s");
  EXPECT_EQ(FormatGoDuration(seconds(3605)), "1h0m5s");
  EXPECT_EQ(FormatGoDuration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(FormatGoDuration(milliseconds(500)), "500ms");
  EXPECT_EQ(FormatGoDuration(nanoseconds(0)), "0s");
  EXPECT_EQ(FormatGoDuration(-seconds(90)), "-1m30s");
  // What Go prints for whole seconds is in galley's grammar.
  for (auto d : {seconds(3605), seconds(90), seconds(86400), seconds(1)}) {
    EXPECT_EQ(ParseDuration(FormatGoDuration(d)).value(), d);
  }
}

}  // namespace
}  // namespace galley
