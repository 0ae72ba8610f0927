// SPDX-License-Identifier: Apache-2.0
#include "base/file_io.h"

#include <chrono>
#include <filesystem>
#include <future>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/temp_repo.h"

namespace galley {
namespace {

TEST(FileIoTest, ReadsWithinTheBoundAndRefusesLargerFiles) {
  testing::TempRepo t;
  t.Write("a.txt", std::string(100, 'x'));
  auto ok = ReadFileBounded(t.Path("a.txt"), 100);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->size(), 100u);
  auto big = ReadFileBounded(t.Path("a.txt"), 99);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("larger than the limit of 99 bytes"), std::string::npos);
}

TEST(FileIoTest, ReportsMissingFilesAndDirectories) {
  testing::TempRepo t;
  EXPECT_EQ(ReadFileBounded(t.Path("nope"), 10).status().code(), StatusCode::kNotFound);
  EXPECT_NE(ReadFileBounded(t.dir(), 10).status().message().find("is a directory"),
            std::string::npos);
}

TEST(FileIoTest, RefusesFifosAndDevicesWithoutBlocking) {
  testing::TempRepo t;
  std::string fifo = t.Path("pipe.yaml");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto read = std::async(std::launch::async, [&] { return ReadFileBounded(fifo, 100); });
  if (read.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    ADD_FAILURE() << "ReadFileBounded blocked on a FIFO";
    int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // unblocks the reader
    if (fd >= 0) ::close(fd);
  }
  auto r = read.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), fifo + ": not a regular file (a FIFO (named pipe))");
  auto dev = ReadFileBounded("/dev/null", 100);
  EXPECT_EQ(dev.status().message(), "/dev/null: not a regular file (a character device)");
}

TEST(FileIoTest, WritesAtomicallyAndLeavesNoTemporaryFiles) {
  testing::TempRepo t;
  std::string path = t.Path("deep/dir/out.json");
  ASSERT_TRUE(WriteFileAtomic(path, "one").ok());
  ASSERT_TRUE(WriteFileAtomic(path, "two", /*durable=*/false).ok());
  EXPECT_EQ(testing::ReadText(path), "two");
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(t.Path("deep/dir")))
    ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(FileIoTest, FailsCleanlyWhenTheTargetCannotBeWritten) {
  testing::TempRepo t;
  t.Write("file", "x");
  // A regular file where a directory is needed.
  Status s = WriteFileAtomic(t.Path("file/child.json"), "y");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(testing::ReadText(t.Path("file")), "x");
}

}  // namespace
}  // namespace galley
