// SPDX-License-Identifier: Apache-2.0
// server/flapping: the window, the threshold, staying flapping until someone acts, listing.
#include "server/flapping.h"

#include <gtest/gtest.h>

namespace galley::server {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
const std::chrono::system_clock::time_point T0{std::chrono::seconds(1714557600)};
const std::string kApp = "marathon-app:/prod/web";

TEST(FlappingTest, FourthRevertWithinTheWindowIsRefused) {
  FlappingDetector f;  // 3 reverts in 10 minutes
  EXPECT_EQ(f.RecordRevert(kApp, T0), RevertDecision::kRevert);
  EXPECT_EQ(f.RecordRevert(kApp, T0 + minutes(2)), RevertDecision::kRevert);
  EXPECT_EQ(f.RecordRevert(kApp, T0 + minutes(4)), RevertDecision::kRevert);
  EXPECT_FALSE(f.IsFlapping(kApp));
  EXPECT_EQ(f.RecentReverts(kApp, T0 + minutes(4)), 3);
  EXPECT_EQ(f.RecordRevert(kApp, T0 + minutes(6)), RevertDecision::kStartFlapping);
  EXPECT_TRUE(f.IsFlapping(kApp));
  EXPECT_EQ(f.RecordRevert(kApp, T0 + minutes(7)), RevertDecision::kFlapping);
  // Left alone however long it stays so.
  EXPECT_EQ(f.RecordRevert(kApp, T0 + std::chrono::hours(48)), RevertDecision::kFlapping);
  auto list = f.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].resource, kApp);
  EXPECT_EQ(list[0].since, T0 + minutes(6));
  EXPECT_EQ(list[0].reverts, 3);
}

TEST(FlappingTest, RevertsOutsideTheWindowAreForgotten) {
  FlappingDetector f;
  EXPECT_EQ(f.RecordRevert(kApp, T0), RevertDecision::kRevert);
  EXPECT_EQ(f.RecordRevert(kApp, T0 + minutes(5)), RevertDecision::kRevert);
  EXPECT_EQ(f.RecordRevert(kApp, T0 + minutes(9)), RevertDecision::kRevert);
  // Exactly 10 minutes after the first: the first has left the window.
  EXPECT_EQ(f.RecordRevert(kApp, T0 + minutes(10)), RevertDecision::kRevert);
  EXPECT_EQ(f.RecentReverts(kApp, T0 + minutes(10)), 3);
  // One second short of 10 minutes after the second: still three in the window.
  EXPECT_EQ(f.RecordRevert(kApp, T0 + minutes(15) - seconds(1)), RevertDecision::kStartFlapping);
}

TEST(FlappingTest, ResourcesAreIndependent) {
  FlappingDetector f(FlappingOptions{1, minutes(1)});
  EXPECT_EQ(f.RecordRevert("a", T0), RevertDecision::kRevert);
  EXPECT_EQ(f.RecordRevert("b", T0), RevertDecision::kRevert);
  EXPECT_EQ(f.RecordRevert("a", T0 + seconds(10)), RevertDecision::kStartFlapping);
  EXPECT_FALSE(f.IsFlapping("b"));
  EXPECT_EQ(f.RecordRevert("b", T0 + minutes(2)), RevertDecision::kRevert);
}

TEST(FlappingTest, ResetAndGitChangeEndFlapping) {
  FlappingDetector f(FlappingOptions{1, minutes(10)});
  EXPECT_EQ(f.RecordRevert(kApp, T0), RevertDecision::kRevert);
  EXPECT_EQ(f.RecordRevert(kApp, T0 + seconds(1)), RevertDecision::kStartFlapping);
  EXPECT_TRUE(f.Reset(kApp));
  EXPECT_FALSE(f.IsFlapping(kApp));
  EXPECT_TRUE(f.List().empty());
  // The history went with it: a fresh start.
  EXPECT_EQ(f.RecordRevert(kApp, T0 + seconds(2)), RevertDecision::kRevert);
  EXPECT_EQ(f.RecordRevert(kApp, T0 + seconds(3)), RevertDecision::kStartFlapping);
  EXPECT_TRUE(f.OnGitChange(kApp));
  EXPECT_FALSE(f.IsFlapping(kApp));
  EXPECT_FALSE(f.Reset("never-seen"));
  EXPECT_EQ(f.RecordRevert(kApp, T0 + seconds(4)), RevertDecision::kRevert);
  EXPECT_FALSE(f.Reset(kApp));  // had a history, was not flapping
}

TEST(FlappingTest, PruneDropsOldHistoriesButKeepsFlapping) {
  FlappingDetector f(FlappingOptions{1, minutes(10)});
  EXPECT_EQ(f.RecordRevert("old", T0), RevertDecision::kRevert);
  EXPECT_EQ(f.RecordRevert("flap", T0), RevertDecision::kRevert);
  EXPECT_EQ(f.RecordRevert("flap", T0 + seconds(1)), RevertDecision::kStartFlapping);
  EXPECT_EQ(f.tracked(), 2u);
  f.Prune(T0 + minutes(11));
  EXPECT_EQ(f.tracked(), 1u);
  EXPECT_TRUE(f.IsFlapping("flap"));
  EXPECT_EQ(f.RecentReverts("old", T0 + minutes(11)), 0);
}

TEST(FlappingTest, ListIsSortedByResource) {
  FlappingDetector f(FlappingOptions{0, minutes(10)});  // no reverts at all: flapping at once
  EXPECT_EQ(f.RecordRevert("b", T0), RevertDecision::kStartFlapping);
  EXPECT_EQ(f.RecordRevert("a", T0), RevertDecision::kStartFlapping);
  auto list = f.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].resource, "a");
  EXPECT_EQ(list[1].resource, "b");
}

}  // namespace
}  // namespace galley::server
