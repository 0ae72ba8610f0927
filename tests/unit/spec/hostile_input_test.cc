// SPDX-License-Identifier: Apache-2.0
// Hostile and broken input: each case gets one clear diagnostic with a position, never a
// crash, a hang or an exception.
#include <gtest/gtest.h>

#include "spec/loader.h"
#include "support/temp_repo.h"

namespace galley::spec {
namespace {

using testing::kMinimalPlatform;
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
            "services/web.yaml:3:1: error: invalid YAML: end of sequence flow not found (expected well-formed YAML)");
}

TEST(HostileInputTest, TabIndentation) {
  std::string out = LoadService("name: web\nresources:\n\tcpus: 1\n");
  EXPECT_EQ(FirstLine(out),
            "services/web.yaml:3:1: error: tab character used for indentation (expected spaces: YAML does not "
            "allow tabs for indentation)");
}

TEST(HostileInputTest, EmptyAndCommentOnlyFiles) {
  EXPECT_EQ(FirstLine(LoadService("")), "services/web.yaml: error: file is empty (expected a YAML mapping)");
  EXPECT_EQ(FirstLine(LoadService("# nothing here\n\n")),
            "services/web.yaml: error: file is empty (expected a YAML mapping)");
}

TEST(HostileInputTest, BinaryData) {
  std::string bin("name: web\n\x7f" "ELF\x02\x01\x01\x00\x00\x00", 20);
  EXPECT_EQ(FirstLine(LoadService(bin)),
            "services/web.yaml:2:8: error: file contains a NUL byte: this is binary data (expected a UTF-8 YAML "
            "text file)");
}

TEST(HostileInputTest, InvalidUtf8) {
  EXPECT_EQ(FirstLine(LoadService("name: web\nimage: caf\xe9\n")),
            "services/web.yaml:2:11: error: invalid UTF-8 byte sequence (expected a UTF-8 YAML text file)");
}

TEST(HostileInputTest, WrongRootTypes) {
  EXPECT_EQ(FirstLine(LoadService("- a\n- b\n")),
            "services/web.yaml:1:1: error: a service file must be a mapping, got a list (expected a mapping of "
            "keys to values)");
  EXPECT_EQ(FirstLine(LoadService("just text\n")),
            "services/web.yaml:1:1: error: a service file must be a mapping, got 'just text' (expected a mapping "
            "of keys to values)");
}

TEST(HostileInputTest, SeveralDocuments) {
  EXPECT_EQ(FirstLine(LoadService("name: a\n---\nname: b\n")),
            "services/web.yaml:3:1: error: a second YAML document in one file (expected one document per file)");
}

TEST(HostileInputTest, ComplexKeys) {
  std::string out = LoadService("? [a, b]\n: x\nname: web\n");
  EXPECT_NE(out.find("services/web.yaml:1:3: error: a key in a service file is a list (expected a plain string "
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
  std::string service = "name: web\nimage: web\nresources: {cpus: 1, mem: 1}\ncommand: *i\nconfig: {A: *i}\n"
                        "environments: {production: {tag: v1, instances: *i}}\n";
  std::string out = LoadService(bomb + service);
  EXPECT_NE(out.find("unknown key 'a' in a service file"), std::string::npos) << out.substr(0, 2000);
  EXPECT_NE(out.find("command[0] must be a string, got a list"), std::string::npos) << out.substr(0, 2000);
  EXPECT_NE(out.find("config.A must be a string, got a list"), std::string::npos) << out.substr(0, 2000);
  EXPECT_NE(out.find("environments.production.instances must be an integer, got a list"), std::string::npos);
}

TEST(HostileInputTest, NodeBudgetStopsHugeAliasFanOut) {
  std::string text = "name: web\nimage: web\nresources: {cpus: 1, mem: 1}\nenvironments: {}\nx: &x t\ntags: [";
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

}  // namespace
}  // namespace galley::spec
