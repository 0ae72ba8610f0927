// SPDX-License-Identifier: Apache-2.0
// set-tag's file handling (cli/repo_edit): the service's file found through the loader, a
// file changed between read and write is refused with nothing written, and the commands end
// to end in-process on a temporary repository.
#include "cli/repo_edit.h"

#include <sstream>

#include <gtest/gtest.h>

#include "cli/commands.h"
#include "support/temp_repo.h"

namespace galley::cli {
namespace {

using testing::kMinimalPlatform;
using testing::kMinimalService;
using testing::ReadText;
using testing::TempRepo;

TEST(RepoEditTest, AFileChangedBetweenReadAndWriteIsRefused) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  t.Write("services/web.yaml", kMinimalService);
  std::ostringstream err;
  auto file = ReadServiceFile(t.dir(), "web", err);
  ASSERT_TRUE(file.ok()) << file.status().message() << err.str();
  auto edit = spec::SetTagInText(file->path, file->text, {"staging"}, "v9-b1");
  ASSERT_TRUE(edit.ok()) << edit.status().message();
  std::string changed = std::string(kMinimalService) + "# someone else's edit\n";
  t.Write("services/web.yaml", changed);
  Status s = WriteServiceFile(*file, *edit);
  EXPECT_EQ(s.code(), StatusCode::kConflict);
  EXPECT_NE(s.message().find("changed while galley was editing it; nothing written"),
            std::string::npos);
  EXPECT_EQ(ReadText(t.Path("services/web.yaml")), changed);
  // Unchanged, it is written.
  t.Write("services/web.yaml", kMinimalService);
  ASSERT_TRUE(WriteServiceFile(*file, *edit).ok());
  EXPECT_EQ(ReadText(t.Path("services/web.yaml")), edit->text);
}

TEST(RepoEditTest, CommandsInProcess) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  t.Write("services/web.yaml", kMinimalService);
  std::ostringstream out, err;
  EXPECT_EQ(RunSetTag({"web", "v9-b1", t.dir(), "--env", "staging"}, out, err), kExitOk)
      << err.str();
  EXPECT_NE(out.str().find("staging tag: "), std::string::npos) << out.str();
  EXPECT_NE(ReadText(t.Path("services/web.yaml")).find("v9-b1"), std::string::npos);
  std::ostringstream out2, err2;
  EXPECT_EQ(RunSetTag({"web", "v9-b1", t.dir(), "--env", "staging"}, out2, err2), kExitOk);
  EXPECT_NE(out2.str().find("already has tag v9-b1"), std::string::npos);
  std::ostringstream out3, err3;
  EXPECT_EQ(RunSetTag({"webb", "v1", t.dir()}, out3, err3), kExitError);
  EXPECT_NE(err3.str().find("no service webb in " + t.dir() + "/services (did you mean web?)"),
            std::string::npos)
      << err3.str();
  std::ostringstream out4, err4;
  EXPECT_EQ(RunPromote({"web", t.dir(), "--from", "staging"}, out4, err4), kExitError);
  EXPECT_NE(err4.str().find("--from and --to are required"), std::string::npos);
  std::ostringstream out5, err5;
  EXPECT_EQ(RunPromote({"web", t.dir(), "--from", "staging", "--to", "production"}, out5, err5),
            kExitOk)
      << err5.str();
  std::string text = ReadText(t.Path("services/web.yaml"));
  EXPECT_NE(text.find("production: {tag: v9-b1, instances: 2}"), std::string::npos) << text;
  EXPECT_NE(text.find("staging: {tag: v9-b1, instances: 1}"), std::string::npos) << text;
}

}  // namespace
}  // namespace galley::cli
