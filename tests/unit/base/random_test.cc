// SPDX-License-Identifier: Apache-2.0
// Random values: well-formed, and never repeated across a fork (a generator seeded once per
// process hands a forked child the parent's next values: the same UUIDs, the same keys).
#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/uuid.h"

namespace galley {
namespace {

TEST(RandomTest, UuidsAreVersion4AndDistinct) {
  std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string u = NewUuid();
    EXPECT_TRUE(std::regex_match(u, v4)) << u;
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(RandomTest, RandomHexHasTheLengthAsked) {
  EXPECT_EQ(RandomHex(32).size(), 64u);
  EXPECT_EQ(RandomHex(0), "");
  EXPECT_TRUE(std::regex_match(RandomHex(16), std::regex("^[0-9a-f]{32}$")));
  EXPECT_NE(RandomHex(32), RandomHex(32));
}

// What the parent and a forked child draw next must differ.
std::pair<std::string, std::string> DrawAcrossFork(std::string (*draw)()) {
  (void)draw();  // whatever state a generator keeps is initialised before the fork
  int fds[2];
  if (::pipe(fds) != 0) return {"", ""};
  pid_t pid = ::fork();
  if (pid == 0) {
    std::string v = draw();
    ssize_t n = ::write(fds[1], v.data(), v.size());
    ::_exit(n == static_cast<ssize_t>(v.size()) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string child;
  char buf[128];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    child.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {draw(), child};
}

TEST(RandomTest, AForkedChildDrawsOtherUuidsThanItsParent) {
  auto [parent, child] = DrawAcrossFork(&NewUuid);
  ASSERT_EQ(child.size(), 36u);
  EXPECT_NE(parent, child);
}

TEST(RandomTest, AForkedChildDrawsOtherKeysThanItsParent) {
  auto [parent, child] = DrawAcrossFork(+[] { return RandomHex(32); });
  ASSERT_EQ(child.size(), 64u);
  EXPECT_NE(parent, child);
}

}  // namespace
}  // namespace galley
