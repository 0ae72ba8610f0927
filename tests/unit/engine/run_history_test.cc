// SPDX-License-Identifier: Apache-2.0
// engine/run_history: who and where a run came from in each CI system, and the bounded
// apply history document kept in Consul.
#include "engine/run_history.h"

#include <gtest/gtest.h>

namespace galley::engine {
namespace {

using json = nlohmann::json;

TEST(RunOriginTest, GithubActions) {
  auto o = RunOriginOf({{"GITHUB_ACTIONS", "true"},
                        {"GITHUB_ACTOR", "octocat"},
                        {"GITHUB_SERVER_URL", "https://github.com"},
                        {"GITHUB_REPOSITORY", "acme/platform"},
                        {"GITHUB_RUN_ID", "99"},
                        {"GITHUB_SHA", "abc"}},
                       "runner@host");
  EXPECT_EQ(o.who, "octocat");
  EXPECT_EQ(o.ci, "github-actions");
  EXPECT_EQ(o.ci_url, "https://github.com/acme/platform/actions/runs/99");
  EXPECT_EQ(o.ci_commit, "abc");
}

TEST(RunOriginTest, GitlabCi) {
  auto o = RunOriginOf({{"GITLAB_CI", "true"},
                        {"GITLAB_USER_LOGIN", "alice"},
                        {"CI_PIPELINE_URL", "https://gitlab.example/acme/platform/-/pipelines/7"},
                        {"CI_COMMIT_SHA", "def"}},
                       "runner@host");
  EXPECT_EQ(o.who, "alice");
  EXPECT_EQ(o.ci, "gitlab-ci");
  EXPECT_EQ(o.ci_url, "https://gitlab.example/acme/platform/-/pipelines/7");
  EXPECT_EQ(o.ci_commit, "def");
}

TEST(RunOriginTest, DroneNamesWhoStartedTheBuildElseTheCommitsAuthor) {
  std::map<std::string, std::string> env = {
      {"DRONE", "true"},
      {"DRONE_BUILD_TRIGGER", "bob"},
      {"DRONE_COMMIT_AUTHOR", "carol"},
      {"DRONE_BUILD_LINK", "https://drone.example/acme/platform/12"},
      {"DRONE_COMMIT_SHA", "123"}};
  auto o = RunOriginOf(env, "runner@host");
  EXPECT_EQ(o.who, "bob");
  EXPECT_EQ(o.ci, "drone");
  EXPECT_EQ(o.ci_url, "https://drone.example/acme/platform/12");
  EXPECT_EQ(o.ci_commit, "123");
  env["DRONE_BUILD_TRIGGER"] = "@hook";
  EXPECT_EQ(RunOriginOf(env, "runner@host").who, "carol");
}

TEST(RunOriginTest, OutsideCiUserAtHostAndValuesStayOneLine) {
  auto o = RunOriginOf({{"USER", "me"}}, "me@laptop");
  EXPECT_EQ(o.who, "me@laptop");
  EXPECT_EQ(o.ci, "");
  EXPECT_EQ(o.ci_url, "");
  auto odd = RunOriginOf({{"GITLAB_CI", "true"}, {"GITLAB_USER_LOGIN", "eve\n\x1b[2Jx"}}, "r@h");
  EXPECT_EQ(odd.who, "eve??[2Jx");  // Printable: control characters never reach a terminal
  EXPECT_EQ(RunOriginOf({{"GITLAB_CI", "true"}}, "r@h").who, "r@h");  // no actor: the runner
  EXPECT_EQ(OriginText("octocat", "github-actions"), "octocat (github-actions)");
  EXPECT_EQ(OriginText("me@laptop", ""), "me@laptop");
}

TEST(PlatformHistoryDocTest, NewestFirstReplacedByIdBoundedAndDeadRunsInterrupted) {
  json doc;
  doc = WithHistoryEntry(doc, {{"id", "a"}, {"outcome", "running"}}, 3);
  doc = WithHistoryEntry(doc, {{"id", "a"}, {"outcome", "ok"}}, 3);
  ASSERT_EQ(doc["applies"].size(), 1u);
  EXPECT_EQ(doc["applies"][0]["outcome"], "ok");
  // b starts and is killed; c starts while holding the lock: b was interrupted.
  doc = WithHistoryEntry(doc, {{"id", "b"}, {"outcome", "running"}}, 3);
  doc = WithHistoryEntry(doc, {{"id", "c"}, {"outcome", "running"}}, 3);
  ASSERT_EQ(doc["applies"].size(), 3u);
  EXPECT_EQ(doc["applies"][0]["id"], "c");
  EXPECT_EQ(doc["applies"][0]["outcome"], "running");
  EXPECT_EQ(doc["applies"][1]["outcome"], "interrupted");
  doc = WithHistoryEntry(doc, {{"id", "d"}, {"outcome", "failed"}}, 3);
  ASSERT_EQ(doc["applies"].size(), 3u);
  EXPECT_EQ(doc["applies"][2]["id"], "b");  // a, the oldest, went
  // A malformed document starts afresh; a huge one is cut below the size bound.
  EXPECT_EQ(WithHistoryEntry(json("junk"), {{"id", "x"}}, 3)["applies"].size(), 1u);
  json big;
  for (int i = 0; i < 100; ++i) {
    big =
        WithHistoryEntry(big, {{"id", std::to_string(i)}, {"error", std::string(10000, 'e')}}, 500);
  }
  EXPECT_LT(big.dump().size(), kMaxHistoryBytes);
  EXPECT_GT(big["applies"].size(), 10u);
  EXPECT_EQ(big["applies"][0]["id"], "99");
}

}  // namespace
}  // namespace galley::engine
