// SPDX-License-Identifier: Apache-2.0
// Hostile and broken input: each case gets one clear diagnostic with a position, never a
// crash, a hang or an exception.
#include <chrono>
#include <filesystem>
#include <future>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spec/loader.h"
#include "support/temp_repo.h"

namespace galley::spec {
namespace {

using testing::kMinimalPlatform;
using testing::kMinimalService;
using testing::TempRepo;

// Loads a repository whose only service file has `content`; returns the diagnostics.
std::string LoadService(const std::string& content) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  t.Write("services/web.yaml", content);
  LoadResult r = LoadRepository(t.dir());
  EXPECT_TRUE(r.diags.HasErrors());
  std::string out = r.diags.RenderAll();
  std::string prefix = t.dir() + "/";
  for (size_t p; (p = out.find(prefix)) != std::string::npos;) out.erase(p, prefix.size());
  return out;
}

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

TEST(HostileInputTest, TruncatedYaml) {
  EXPECT_EQ(FirstLine(LoadService("name: web\nimage: [a, b\n")),
            "services/web.yaml:3:1: error: invalid YAML: end of sequence flow not found (expected "
            "well-formed YAML)");
}

TEST(HostileInputTest, TabIndentation) {
  std::string out = LoadService("name: web\nresources:\n\tcpus: 1\n");
  EXPECT_EQ(FirstLine(out),
            "services/web.yaml:3:1: error: tab character used for indentation (expected spaces: "
            "YAML does not "
            "allow tabs for indentation)");
}

TEST(HostileInputTest, EmptyAndCommentOnlyFiles) {
  EXPECT_EQ(FirstLine(LoadService("")),
            "services/web.yaml: error: file is empty (expected a YAML mapping)");
  EXPECT_EQ(FirstLine(LoadService("# nothing here\n\n")),
            "services/web.yaml: error: file is empty (expected a YAML mapping)");
}

TEST(HostileInputTest, BinaryData) {
  std::string bin(
      "name: web\n\x7f"
      "ELF\x02\x01\x01\x00\x00\x00",
      20);
  EXPECT_EQ(FirstLine(LoadService(bin)),
            "services/web.yaml:2:8: error: file contains a NUL byte: this is binary data (expected "
            "a UTF-8 YAML "
            "text file)");
}

TEST(HostileInputTest, InvalidUtf8) {
  EXPECT_EQ(FirstLine(LoadService("name: web\nimage: caf\xe9\n")),
            "services/web.yaml:2:11: error: invalid UTF-8 byte sequence (expected a UTF-8 YAML "
            "text file)");
}

TEST(HostileInputTest, WrongRootTypes) {
  EXPECT_EQ(FirstLine(LoadService("- a\n- b\n")),
            "services/web.yaml: error: a service file must be a mapping, got a list (expected a "
            "mapping of "
            "keys to values)");
  // Not a galley file at all: none of its content is quoted.
  std::string out = LoadService("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin\n");
  EXPECT_EQ(out.find("root:x"), std::string::npos) << out;
  EXPECT_EQ(out.find("daemon"), std::string::npos) << out;
  EXPECT_EQ(
      FirstLine(out),
      "services/web.yaml: error: a service file must be a mapping, got text (expected a mapping "
      "of keys to values)");
}

TEST(HostileInputTest, SeveralDocuments) {
  EXPECT_EQ(FirstLine(LoadService("name: a\n---\nname: b\n")),
            "services/web.yaml:3:1: error: a second YAML document in one file (expected one "
            "document per file)");
}

TEST(HostileInputTest, ComplexKeys) {
  std::string out = LoadService("? [a, b]\n: x\nname: web\n");
  EXPECT_NE(out.find("services/web.yaml:1:3: error: a key in a service file is a list (expected a "
                     "plain string "
                     "key)"),
            std::string::npos)
      << out;
}

TEST(HostileInputTest, DeeplyNestedFlowSequences) {
  std::string deep = "command: " + std::string(20000, '[') + std::string(20000, ']') + "\n";
  std::string out = LoadService(deep);
  EXPECT_NE(FirstLine(out).find("services/web.yaml:1:"), std::string::npos) << out;
  EXPECT_NE(FirstLine(out).find("error: nesting is too deep"), std::string::npos) << out;
}

TEST(HostileInputTest, DeeplyNestedBlockSequencesAndMaps) {
  std::string seq;
  for (int i = 0; i < 20000; ++i) seq += "- ";
  seq += "x\n";
  EXPECT_NE(LoadService(seq).find("error: nesting is too deep"), std::string::npos);
  std::string maps = "name: " + std::string(20000, '{');
  EXPECT_NE(LoadService(maps).find("error: "), std::string::npos);
}

TEST(HostileInputTest, AliasBombIsReportedNotExpanded) {
  // "Billion laughs": 9^9 strings if expanded.
  std::string bomb = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'i'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int k = 0; k < 9; ++k) bomb += (k ? ", *" : "*") + prev;
    bomb += "]\n";
    prev = std::string(1, c);
  }
  std::string service =
      "name: web\nimage: web\nresources: {cpus: 1, mem: 1}\ncommand: *i\nconfig: {A: *i}\n"
      "environments: {production: {tag: v1, instances: *i}}\n";
  std::string out = LoadService(bomb + service);
  EXPECT_NE(out.find("unknown key 'a' in a service file"), std::string::npos)
      << out.substr(0, 2000);
  EXPECT_NE(out.find("command[0] must be a string, got a list"), std::string::npos)
      << out.substr(0, 2000);
  EXPECT_NE(out.find("config.A must be a string, got a list"), std::string::npos)
      << out.substr(0, 2000);
  EXPECT_NE(out.find("environments.production.instances must be an integer, got a list"),
            std::string::npos);
}

TEST(HostileInputTest, NodeBudgetStopsHugeAliasFanOut) {
  std::string text =
      "name: web\nimage: web\nresources: {cpus: 1, mem: 1}\nenvironments: {}\nx: &x t\ntags: [";
  for (int i = 0; i < 240000; ++i) text += i ? ",*x" : "*x";
  text += "]\n";
  std::string out = LoadService(text);
  EXPECT_NE(out.find("document is too large to check (more than 200000 nodes"), std::string::npos)
      << out.substr(0, 1000);
}

TEST(HostileInputTest, MultiMegabyteFile) {
  std::string big = "name: web\ncomment: \"" + std::string(5 << 20, 'a') + "\"\n";
  EXPECT_EQ(FirstLine(LoadService(big)),
            "services/web.yaml: error: file is 5.0 MiB, larger than the limit of 1.0 MiB");
}

TEST(HostileInputTest, LongLinesAreQuotedShort) {
  std::string out = LoadService("name: web\nimage: " + std::string(100000, 'x') + ": y\n");
  EXPECT_LT(out.size(), 4000u) << out.substr(0, 500);
}

// Loads `t` on another thread; a load that blocks (opening a FIFO waits for a writer) is
// unblocked by writing to the FIFO at `fifo` and reported as a failure.
std::string LoadWithoutHanging(const TempRepo& t, const std::string& fifo) {
  auto load =
      std::async(std::launch::async, [&] { return LoadRepository(t.dir()).diags.RenderAll(); });
  if (load.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    ADD_FAILURE() << "loading hung on the FIFO " << fifo;
    int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
  }
  std::string out = load.get();
  std::string prefix = t.dir() + "/";
  for (size_t p; (p = out.find(prefix)) != std::string::npos;) out.erase(p, prefix.size());
  return out;
}

TEST(HostileInputTest, AFifoIsRefusedWithoutBlocking) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  t.Write("services/api.yaml", "");
  ASSERT_EQ(::mkfifo(t.Path("services/web.yaml").c_str(), 0600), 0);
  std::string out = LoadWithoutHanging(t, t.Path("services/web.yaml"));
  EXPECT_NE(out.find("services/web.yaml: error: not a regular file (a FIFO (named pipe))\n"),
            std::string::npos)
      << out;

  TempRepo p;
  ASSERT_EQ(::mkfifo(p.Path("galley.yaml").c_str(), 0600), 0);
  out = LoadWithoutHanging(p, p.Path("galley.yaml"));
  EXPECT_NE(out.find("galley.yaml: error: not a regular file (a FIFO (named pipe))\n"),
            std::string::npos)
      << out;
}

TEST(HostileInputTest, ASymlinkLeavingTheRepositoryIsNotFollowed) {
  TempRepo outside;
  outside.Write("passwd", "root:x:0:0:root:/root:/bin/bash\nsecret-marker: 1\n");
  outside.Write("services/x.yaml", "name: x\nsecret-marker: 2\n");
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  t.Write("services/web.yaml", kMinimalService);
  std::filesystem::create_symlink(outside.Path("passwd"), t.Path("services/passwd.yaml"));
  // A link inside the repository is fine.
  std::filesystem::create_directories(t.Path("shared"));
  std::filesystem::rename(t.Path("services/web.yaml"), t.Path("shared/web.yaml"));
  std::filesystem::create_symlink("../shared/web.yaml", t.Path("services/web.yaml"));
  LoadResult r = LoadRepository(t.dir());
  std::string out = r.diags.RenderAll();
  EXPECT_EQ(out.find("secret-marker"), std::string::npos) << out;
  EXPECT_EQ(out.find("root:x"), std::string::npos) << out;
  EXPECT_NE(
      out.find(t.dir() +
               "/services/passwd.yaml: error: a symbolic link that leaves the repository (to " +
               std::filesystem::canonical(outside.Path("passwd")).string() +
               "); not read (expected a file inside the repository)\n"),
      std::string::npos)
      << out;
  EXPECT_EQ(r.diags.error_count(), 1) << out;
  ASSERT_EQ(r.state.services.size(), 1u);
  EXPECT_EQ(r.state.services[0].name, "web");

  // services/ itself, and galley.yaml, linking out of the repository.
  TempRepo u;
  std::filesystem::create_symlink(outside.Path("passwd"), u.Path("galley.yaml"));
  std::filesystem::create_symlink(outside.Path("services"), u.Path("services"));
  out = LoadRepository(u.dir()).diags.RenderAll();
  EXPECT_EQ(out.find("secret-marker"), std::string::npos) << out;
  EXPECT_NE(out.find(u.dir() + "/galley.yaml: error: a symbolic link that leaves the repository"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(u.dir() + "/services: error: a symbolic link that leaves the repository"),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace galley::spec
