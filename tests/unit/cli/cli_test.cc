// SPDX-License-Identifier: Apache-2.0
// The CLI as a user meets it: exit codes, output formats, error messages, and the rendered
// artifacts of every example checked against golden files (UPDATE_GOLDEN=1 rewrites them).
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include "cli/commands.h"
#include "support/temp_repo.h"

namespace galley::cli {
namespace {

namespace fs = std::filesystem;
using galley::testing::ReadText;
using galley::testing::SourceRoot;
using galley::testing::TempRepo;

struct CmdResult {
  int code;
  std::string out, err;
};

CmdResult Validate(Args args) {
  std::ostringstream out, err;
  int code = RunValidate(args, out, err);
  return {code, out.str(), err.str()};
}

CmdResult Render(Args args) {
  std::ostringstream out, err;
  int code = RunRender(args, out, err);
  return {code, out.str(), err.str()};
}

std::string Example(const char* name) { return SourceRoot() + "/examples/" + name; }

TEST(ValidateCommandTest, ExitsZeroForEveryExample) {
  for (const char* ex : {"reference", "multi-port"}) {
    CmdResult r = Validate({Example(ex)});
    EXPECT_EQ(r.code, kExitOk) << r.err;
    EXPECT_EQ(r.err, "");
  }
  CmdResult r = Validate({Example("reference")});
  EXPECT_EQ(r.out, Example("reference") + ": valid: 4 services, 2 environments, 8 deployments\n");
}

TEST(ValidateCommandTest, ExitsOneAndPrintsEveryError) {
  TempRepo t;
  t.Write("galley.yaml", galley::testing::kMinimalPlatform);
  t.Write("services/web.yaml", "name: web\nimgae: x\n");
  CmdResult r = Validate({t.dir()});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find(t.dir() + "/services/web.yaml:2:1: error: unknown key 'imgae'"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("did you mean 'image'?"), std::string::npos);
  EXPECT_NE(r.err.find("4 errors, 1 warning\n"), std::string::npos) << r.err;
}

TEST(ValidateCommandTest, RejectsUnknownOptionsAndExtraArguments) {
  EXPECT_EQ(Validate({"--frobnicate"}).code, kExitError);
  EXPECT_EQ(Validate({"a", "b"}).code, kExitError);
  EXPECT_EQ(Validate({"--help"}).code, kExitOk);
}

TEST(RenderCommandTest, OneAppIsAnObjectAndManyAreAnArray) {
  CmdResult one = Render({Example("reference"), "--env", "production", "--service", "test-server",
                          "--format", "marathon"});
  ASSERT_EQ(one.code, kExitOk) << one.err;
  auto app = nlohmann::json::parse(one.out);
  EXPECT_TRUE(app.is_object());
  EXPECT_EQ(app["id"], "/app/production/test-server");
  CmdResult all = Render({Example("reference"), "--format", "marathon"});
  ASSERT_EQ(all.code, kExitOk) << all.err;
  auto apps = nlohmann::json::parse(all.out);
  ASSERT_TRUE(apps.is_array());
  EXPECT_EQ(apps.size(), 8u);
  EXPECT_EQ(apps[0]["id"], "/app/production/api-gateway");
  EXPECT_EQ(apps[1]["id"], "/app/staging/api-gateway");
  CmdResult staging = Render({Example("reference"), "--env", "staging", "--format", "marathon"});
  EXPECT_EQ(nlohmann::json::parse(staging.out).size(), 4u);
}

TEST(RenderCommandTest, KvIsMaskedJson) {
  CmdResult r = Render(
      {Example("reference"), "--env", "production", "--service", "test-server", "--format", "kv"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "{\n  \"app/production/test-server/DATABASE_URL\": \"(sensitive: from "
            "$PROD_DATABASE_URL)\",\n"
            "  \"app/production/test-server/LOG_LEVEL\": \"info\"\n}\n");
  ::setenv("PROD_DATABASE_URL", "postgres://secret-value", 1);
  CmdResult again = Render({Example("reference"), "--format", "kv"});
  ::unsetenv("PROD_DATABASE_URL");
  EXPECT_EQ(again.out.find("secret-value"), std::string::npos);
  EXPECT_NE(again.out.find("\"service/haproxy/maxconn\": \"4096\""), std::string::npos);
}

TEST(RenderCommandTest, HelpfulErrorsForBadArguments) {
  CmdResult r = Render({Example("reference"), "--format", "marathn"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_NE(r.err.find("did you mean 'marathon'?"), std::string::npos) << r.err;
  r = Render({Example("reference"), "--service", "test-srever", "--format", "marathon"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_NE(r.err.find("no service 'test-srever'"), std::string::npos);
  EXPECT_NE(r.err.find("did you mean 'test-server'?"), std::string::npos);
  r = Render({Example("reference"), "--env", "prod", "--format", "kv"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_NE(r.err.find("no environment 'prod' (expected one of: production, staging)"),
            std::string::npos)
      << r.err;
  r = Render({Example("reference"), "--env", "production", "--format", "haproxy-internal"});
  EXPECT_EQ(r.code, kExitError);
  r = Render({Example("reference")});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_NE(r.err.find("choose --format FORMAT or --out OUTDIR"), std::string::npos);
  r = Render({Example("reference"), "--format"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_NE(r.err.find("--format needs a value"), std::string::npos);
  r = Render({Example("multi-port"), "--format", "haproxy-external"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_NE(r.err.find("no external haproxy instance"), std::string::npos);
}

TEST(RenderCommandTest, InvalidRepositoryRendersNothing) {
  TempRepo t;
  t.Write("galley.yaml", galley::testing::kMinimalPlatform);
  t.Write("services/web.yaml", "name: web\n");
  CmdResult r = Render({t.dir(), "--out", t.Path("out")});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_NE(r.err.find("is not valid; nothing rendered"), std::string::npos);
  EXPECT_FALSE(fs::exists(t.Path("out")));
}

TEST(RenderCommandTest, BadInstancesFileIsAnError) {
  TempRepo t;
  t.Write("i.json", "{\"test-server\": 3}");
  CmdResult r = Render(
      {Example("reference"), "--format", "haproxy-internal", "--instances", t.Path("i.json")});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_NE(r.err.find("/test-server must be an array, got number"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

std::map<std::string, std::string> ReadTree(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file())
      files[fs::relative(e.path(), root).generic_string()] = ReadText(e.path().string());
  }
  return files;
}

// True under a CI system (CI=true, as GitHub, GitLab and ci/test.sh set it).
bool UnderCi() {
  const char* ci = std::getenv("CI");
  return ci && *ci && std::string(ci) != "false" && std::string(ci) != "0";
}

// Each example's `render --out` artifacts, byte for byte.
TEST(RenderGoldenTest, ExamplesMatchTheirGoldenOutput) {
  // Rewriting the golden files would make this test pass whatever galley renders.
  ASSERT_FALSE(std::getenv("UPDATE_GOLDEN") && UnderCi())
      << "UPDATE_GOLDEN is set under CI: it rewrites the golden files instead of checking them";
  for (const char* ex : {"reference", "multi-port"}) {
    TempRepo t;
    std::string out = t.Path("out");
    CmdResult r = Render({Example(ex), "--out", out, "--instances",
                          SourceRoot() + "/tests/testdata/instances.json"});
    ASSERT_EQ(r.code, kExitOk) << r.err;
    fs::path golden = fs::path(SourceRoot()) / "tests/golden" / ex;
    if (std::getenv("UPDATE_GOLDEN")) {
      fs::remove_all(golden);
      fs::create_directories(golden.parent_path());
      fs::copy(out, golden, fs::copy_options::recursive);
      continue;
    }
    auto want = ReadTree(golden);
    auto got = ReadTree(out);
    ASSERT_FALSE(want.empty()) << "no golden files in " << golden << "; run with UPDATE_GOLDEN=1";
    for (const auto& [name, content] : want) {
      auto it = got.find(name);
      ASSERT_NE(it, got.end()) << ex << ": not rendered: " << name;
      EXPECT_EQ(it->second, content) << ex << ": " << name << " differs from its golden file";
    }
    for (const auto& [name, content] : got)
      EXPECT_TRUE(want.count(name)) << ex << ": unexpected file " << name;
  }
}

TEST(RenderOutTest, ReplacesItsOwnOutputWholeAndRefusesForeignDirectories) {
  TempRepo t;
  std::string out = t.Path("out");
  ASSERT_EQ(Render({Example("reference"), "--out", out}).code, kExitOk);
  t.Write("out/marathon/production/removed-service.json", "{}");
  CmdResult again = Render({Example("reference"), "--out", out});
  ASSERT_EQ(again.code, kExitOk) << again.err;
  EXPECT_FALSE(fs::exists(t.Path("out/marathon/production/removed-service.json")));
  EXPECT_TRUE(fs::exists(t.Path("out/marathon/staging/test-server.json")));
  EXPECT_EQ(again.out, "wrote 20 files to " + out + "\n");
  for (const auto& e : fs::directory_iterator(t.dir())) {
    EXPECT_EQ(e.path().filename().string().find(".galley-"), std::string::npos) << e.path();
  }
  t.Write("mine/notes.txt", "precious");
  CmdResult refused = Render({Example("reference"), "--out", t.Path("mine")});
  EXPECT_EQ(refused.code, kExitError);
  EXPECT_NE(refused.err.find("was not written by galley render; refusing to replace it"),
            std::string::npos);
  EXPECT_EQ(ReadText(t.Path("mine/notes.txt")), "precious");
}

// Issue #14: unchanged files are hard-linked from the output being replaced (no new inode);
// changed ones, and anything that is not a regular file there, are written afresh.
TEST(RenderOutTest, UnchangedFilesAreLinkedFromThePreviousOutputAndChangedOnesRewritten) {
  TempRepo t;
  std::string out = t.Path("out");
  ASSERT_EQ(Render({Example("reference"), "--out", out}).code, kExitOk);
  auto rendered = ReadTree(out);
  struct stat before {};
  ASSERT_EQ(::stat(t.Path("out/kv/platform.json").c_str(), &before), 0);
  t.Write("out/marathon/staging/test-server.json", "edited by hand\n");
  fs::remove(t.Path("out/kv/staging/test-server.json"));
  fs::create_symlink(t.Path("out/kv/platform.json"), t.Path("out/kv/staging/test-server.json"));

  CmdResult again = Render({Example("reference"), "--out", out});
  ASSERT_EQ(again.code, kExitOk) << again.err;
  EXPECT_EQ(ReadTree(out), rendered);
  struct stat after {};
  ASSERT_EQ(::stat(t.Path("out/kv/platform.json").c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);  // linked, not written
  EXPECT_EQ(after.st_nlink, 1u);           // the old output is gone
  EXPECT_FALSE(fs::is_symlink(t.Path("out/kv/staging/test-server.json")));
}

}  // namespace
}  // namespace galley::cli
