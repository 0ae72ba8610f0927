// SPDX-License-Identifier: Apache-2.0
#include "base/file_io.h"

#include <gtest/gtest.h>

#include <filesystem>

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
  EXPECT_NE(ReadFileBounded(t.dir(), 10).status().message().find("is a directory"), std::string::npos);
}

TEST(FileIoTest, WritesAtomicallyAndLeavesNoTemporaryFiles) {
  testing::TempRepo t;
  std::string path = t.Path("deep/dir/out.json");
  ASSERT_TRUE(WriteFileAtomic(path, "one").ok());
  ASSERT_TRUE(WriteFileAtomic(path, "two", /*durable=*/false).ok());
  EXPECT_EQ(testing::ReadText(path), "two");
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(t.Path("deep/dir"))) ++entries;
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
