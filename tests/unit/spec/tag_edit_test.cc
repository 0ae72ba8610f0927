// SPDX-License-Identifier: Apache-2.0
// set-tag and promote on text (spec/yaml_edit, spec/tag_edit): every example service file
// round-trips with a one-line diff per environment, and every construct the editor cannot
// rewrite unambiguously is refused with file:line and nothing returned.
#include "spec/tag_edit.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "base/strings.h"
#include "spec/yaml_edit.h"
#include "support/temp_repo.h"

namespace galley::spec {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Lines(const std::string& s) { return Split(s, '\n'); }

// Lines that differ (the edits never add or remove lines).
std::vector<size_t> DiffLines(const std::string& a, const std::string& b) {
  auto x = Lines(a), y = Lines(b);
  EXPECT_EQ(x.size(), y.size());
  std::vector<size_t> out;
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i)
    if (x[i] != y[i]) out.push_back(i + 1);
  return out;
}

TEST(TagEditTest, EveryExampleServiceRoundTripsWithAOneLineDiff) {
  size_t files = 0, edits = 0;
  for (const auto& entry : fs::recursive_directory_iterator(testing::SourceRoot() + "/examples")) {
    if (entry.path().extension() != ".yaml" || entry.path().parent_path().filename() != "services")
      continue;
    ++files;
    std::string file = entry.path().string();
    std::string text = testing::ReadText(file);
    auto envs = MapKeys(file, text, {"environments"});
    ASSERT_TRUE(envs.ok()) << envs.status().message();
    for (const auto& env : *envs) {
      auto r = SetTagInText(file, text, {env}, "v9.9.9-b1234");
      ASSERT_TRUE(r.ok()) << file << " " << env << ": " << r.status().message();
      ASSERT_EQ(r->changes.size(), 1u);
      auto diff = DiffLines(text, r->text);
      ASSERT_EQ(diff.size(), 1u) << file << " " << env;
      EXPECT_EQ(static_cast<int>(diff[0]), r->changes[0].line);
      // Only the tag's bytes: putting the old value back gives the file byte for byte.
      auto back = SetTagInText(file, r->text, {env}, r->changes[0].before);
      ASSERT_TRUE(back.ok()) << back.status().message();
      EXPECT_EQ(back->text, text) << file;
      ++edits;
    }
  }
  EXPECT_GE(files, 5u);
  EXPECT_GE(edits, 9u);
}

constexpr char kService[] = R"(# a comment that stays
name: web   # trailing comment
image: team/web
resources: {cpus: 0.1, mem: 64}
environments:
  production:
    tag: "v1.0.0"    # quoted
    instances: 2
    config: {LEVEL: info, URL: 'http://a'}
  staging:
    tag: v1.1.0
    instances: 1
    config: {LEVEL: debug, URL: 'http://b'}
)";

TEST(TagEditTest, KeepsQuotingCommentsAndEverythingElse) {
  auto r = SetTagInText("web.yaml", kService, {}, "v2.0.0");
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::string want = kService;
  want.replace(want.find("v1.0.0"), 6, "v2.0.0");
  want.replace(want.find("v1.1.0"), 6, "v2.0.0");
  EXPECT_EQ(r->text, want);
  ASSERT_EQ(r->changes.size(), 2u);
  EXPECT_EQ(r->changes[0].env, "production");
  EXPECT_EQ(r->changes[0].line, 7);
  EXPECT_EQ(r->changes[1].line, 11);
}

TEST(TagEditTest, PromoteCopiesTheTagAndNamedConfigKeys) {
  auto r = PromoteInText("web.yaml", kService, "staging", "production", {"LEVEL", "URL"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::string want = kService;
  want.replace(want.find("v1.0.0"), 6, "v1.1.0");
  want.replace(want.find("LEVEL: info"), 11, "LEVEL: debug");
  want.replace(want.find("'http://a'"), 10, "'http://b'");
  EXPECT_EQ(r->text, want);
  EXPECT_EQ(r->changes.size(), 3u);
  // Nothing to do is no change at all.
  auto again = PromoteInText("web.yaml", r->text, "staging", "production", {"LEVEL"});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->changes.empty());
  EXPECT_EQ(again->text, r->text);
}

TEST(TagEditTest, AnUnsafeValueIntoAPlainScalarIsQuoted) {
  std::string text = kService;
  text.replace(text.find("LEVEL: debug"), 12, "LEVEL: x");
  std::string src = text;
  src.replace(src.find("LEVEL: info"), 11, "LEVEL: 'a: b # c'");
  auto r = PromoteInText("web.yaml", src, "production", "staging", {"LEVEL"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_NE(r->text.find("LEVEL: \"a: b # c\""), std::string::npos) << r->text;
}

struct Hostile {
  const char* name;
  std::string text;
  std::vector<std::string> envs;
  std::string tag;
  std::string error;  // a substring of the message
};

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  size_t p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  return s.replace(p, from.size(), to);
}

TEST(TagEditTest, RefusesWhatItCannotRewriteUnambiguously) {
  std::string base = kService;
  std::vector<Hostile> cases = {
      {"moving tag", base, {"staging"}, "latest", "moves"},
      {"branch name", base, {"staging"}, "master", "moves"},
      {"invalid tag", base, {"staging"}, "-bad", "not a valid image tag"},
      {"missing env", base, {"qa"}, "v2", "no environment qa (it has: production, staging)"},
      {"anchor",
       Replace(base, "tag: v1.1.0", "tag: &t v1.1.0"),
       {"staging"},
       "v2",
       "web.yaml:11: environments.staging.tag: its value carries an anchor"},
      {"alias",
       Replace(Replace(base, "tag: \"v1.0.0\"", "tag: &t v1.0.0"), "tag: v1.1.0", "tag: *t"),
       {"staging"},
       "v2",
       "web.yaml:11: environments.staging.tag: its value is an alias"},
      {"aliased environment",
       Replace(Replace(base, "  production:\n", "  production: &p\n"),
               "  staging:\n    tag: v1.1.0\n    instances: 1\n    config: {LEVEL: debug, URL: "
               "'http://b'}\n",
               "  staging: *p\n"),
       {"staging"},
       "v2",
       "web.yaml:10: environments.staging: its value is an alias"},
      {"block scalar",
       Replace(base, "tag: v1.1.0", "tag: |\n      v1.1.0"),
       {"staging"},
       "v2",
       "web.yaml:11: environments.staging.tag: a block scalar"},
      {"multi-line plain",
       Replace(base, "tag: v1.1.0", "tag: v1.1.0\n      more"),
       {"staging"},
       "v2",
       "a plain scalar spread over several lines"},
      {"split flow map",
       Replace(base, "  staging:\n    tag: v1.1.0\n    instances: 1\n",
               "  staging: {tag: v1.1.0,\n    instances: 1}\n  qa:\n"),
       {"staging"},
       "v2",
       "a flow mapping {...} split over lines"},
      {"duplicated key",
       Replace(base, "    instances: 1\n", "    instances: 1\n    tag: v1.2\n"),
       {"staging"},
       "v2",
       "web.yaml:13: duplicated key environments.staging.tag (first at line 11)"},
      {"duplicated environment",
       base + "  staging:\n    tag: v3\n    instances: 1\n",
       {"staging"},
       "v2",
       "duplicated key environments.staging"},
      {"explicit tag",
       Replace(base, "tag: v1.1.0", "tag: !!str v1.1.0"),
       {"staging"},
       "v2",
       "explicit tag"},
      {"no tag key",
       Replace(base, "    tag: v1.1.0\n", ""),
       {"staging"},
       "v2",
       "no key tag under environments.staging"},
      {"not yaml", "name: [", {"staging"}, "v2", "not valid YAML"},
  };
  for (const auto& c : cases) {
    auto r = SetTagInText("web.yaml", c.text, c.envs, c.tag);
    ASSERT_FALSE(r.ok()) << c.name << " was accepted:\n" << r->text;
    EXPECT_NE(r.status().message().find(c.error), std::string::npos)
        << c.name << ": " << r.status().message();
  }
}

TEST(TagEditTest, PromoteNeedsTheConfigKeyInBothEnvironments) {
  // galley never inserts lines: a key missing on either side is refused.
  std::string text = Replace(kService, "LEVEL: info", "LEVEL: \"\"");
  auto r = PromoteInText("web.yaml", text, "production", "staging", {"NOPE"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("config key NOPE of production"), std::string::npos)
      << r.status().message();
}

TEST(TagEditTest, PromoteRefusesAMovingSourceTag) {
  std::string text = Replace(kService, "tag: v1.1.0", "tag: latest");
  auto r = PromoteInText("web.yaml", text, "staging", "production", {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("web.yaml:11: staging's tag: tag 'latest' moves"),
            std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace galley::spec
