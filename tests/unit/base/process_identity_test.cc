// SPDX-License-Identifier: Apache-2.0
// The /proc pieces both the lock (ProvablyGone) and the state store's run owners rely on:
// a live process is found with its start time, an exited one shows as a zombie until reaped,
// then as gone.
#include "base/process_identity.h"

#include <string>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/wait.h"

namespace galley {
namespace {

TEST(ProcessIdentityTest, ThisProcessIsFoundWithItsStartTime) {
  ProcessStat self = ReadProcessStat(::getpid());
  ASSERT_TRUE(self.found);
  EXPECT_EQ(self.state, 'R');
  EXPECT_GT(self.start, 0);
  ProcessIdentity me = ThisProcess();
  EXPECT_EQ(me.start, self.start);
  EXPECT_EQ(me.boot, BootId());
  EXPECT_EQ(BootId().size(), 36u) << BootId();  // a UUID
}

TEST(ProcessIdentityTest, AnExitedChildIsAZombieThenGone) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ProcessStat zombie;
  EXPECT_TRUE(testing::Eventually([&] {
    zombie = ReadProcessStat(child);
    return zombie.found && zombie.state == 'Z';
  }));
  ProcessIdentity exited = ThisProcess();  // same host, boot and pid namespace
  exited.pid = child;
  exited.start = zombie.start;
  std::string why;
  EXPECT_TRUE(ProvablyGone(exited, &why));
  EXPECT_EQ(why, "process " + std::to_string(child) + " has exited");
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_FALSE(ReadProcessStat(child).found);
}

TEST(ProcessIdentityTest, NoSuchPidIsNotFound) {
  EXPECT_FALSE(ReadProcessStat(0).found);
  EXPECT_FALSE(ReadProcessStat(-1).found);
}

}  // namespace
}  // namespace galley
