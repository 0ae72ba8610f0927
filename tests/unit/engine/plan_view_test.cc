// SPDX-License-Identifier: Apache-2.0
// The plan's text and Markdown views (engine/plan.h, engine/view_text.h): symbols, the
// Markdown diff block, long values shown whole, and characters from live objects that
// must not reach a terminal or a review unescaped (issue #10).
#include <string>

#include <gtest/gtest.h>

#include "engine/plan.h"
#include "engine/view_text.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

FieldChange Change(const std::string& pointer, std::optional<json> before,
                   std::optional<json> after) {
  FieldChange c;
  c.pointer = pointer;
  c.before_present = before.has_value();
  if (before) c.before = *before;
  c.after_present = after.has_value();
  if (after) c.after = *after;
  return c;
}

Action KvPut(const std::string& key, const std::string& token, std::optional<json> before,
             json after) {
  Action a;
  a.id = "kv:" + key;
  a.kind = ActionKind::kKvPut;
  a.reason = token == "0" ? Reason::kNew : Reason::kDesiredChanged;
  a.target = key;
  a.token = token;
  a.changes = {Change("", std::move(before), std::move(after))};
  return a;
}

Action AppUpdate(const std::string& id, std::vector<FieldChange> changes) {
  Action a;
  a.id = "app:" + id;
  a.kind = ActionKind::kAppUpdate;
  a.reason = Reason::kDesiredChanged;
  a.target = id;
  a.token = "2026-01-01T00:00:00.000Z";
  a.changes = std::move(changes);
  return a;
}

Plan OnePlan(std::vector<Action> actions) {
  Plan p;
  p.platform = "test";
  p.actions = std::move(actions);
  return p;
}

// A KV update was shown with '+' like a new key; '~' as for apps.
TEST(PlanViewTest, KvUpdateIsTildeAndKvCreateIsPlus) {
  Plan p = OnePlan({KvPut("app/production/web/LOG_LEVEL", "42", json("info"), json("debug")),
                    KvPut("app/production/web/NEW", "0", std::nullopt, json("x"))});
  std::string text = RenderPlanText(p, false);
  EXPECT_NE(text.find("~ update consul key app/production/web/LOG_LEVEL"), std::string::npos)
      << text;
  EXPECT_NE(text.find("+ put consul key app/production/web/NEW"), std::string::npos) << text;
  std::string md = RenderPlanMarkdown(p);
  EXPECT_NE(md.find("| `~` | update | `app/production/web/LOG_LEVEL`"), std::string::npos) << md;
  EXPECT_NE(md.find("| `+` | put | `app/production/web/NEW`"), std::string::npos) << md;
}

// Every line of the diff block started with '+': old values are '-' lines, new ones '+'.
TEST(PlanViewTest, MarkdownDiffMarksOldAndNewValues) {
  Plan p =
      OnePlan({AppUpdate("/app/production/web", {Change("/instances", json(2), json(3)),
                                                 Change("/labels/team", std::nullopt, json("core")),
                                                 Change("/labels/old", json("x"), std::nullopt)})});
  std::string md = RenderPlanMarkdown(p);
  size_t begin = md.find("```diff\n");
  ASSERT_NE(begin, std::string::npos) << md;
  size_t end = md.find("```\n", begin + 8);
  std::string block = md.substr(begin + 8, end - begin - 8);
  EXPECT_EQ(block,
            "@@ ~ update /app/production/web (desired-changed) @@\n"
            "- instances: 2\n"
            "+ instances: 3\n"
            "+ labels.team: \"core\"\n"
            "- labels.old: \"x\"\n");
}

// Values were cut at about 120 characters ("..."), so a long command could not be reviewed.
TEST(PlanViewTest, LongValuesAreShownWholeAndWrapped) {
  json args = json::array();
  for (int i = 0; i < 40; ++i) args.push_back("--option-" + std::to_string(i) + "=value");
  json old_args = args;
  old_args[39] = "--option-39=old";
  Plan p = OnePlan({AppUpdate("/app/production/web", {Change("/args", old_args, args)})});
  std::string text = RenderPlanText(p, false);
  std::string md = RenderPlanMarkdown(p);
  for (const std::string* view : {&text, &md}) {
    EXPECT_EQ(view->find("..."), std::string::npos) << *view;
    EXPECT_NE(view->find("\"--option-39=value\"]"), std::string::npos) << *view;
    EXPECT_NE(view->find("\"--option-39=old\"]"), std::string::npos) << *view;
    for (int i = 0; i < 40; ++i) {
      EXPECT_NE(view->find("\"--option-" + std::to_string(i) + "=value\""), std::string::npos) << i;
    }
  }
  // Wrapped: no line much longer than a terminal, and the whole value, joined again, is the JSON.
  std::string joined;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::string line = text.substr(start, nl - start);
    EXPECT_LE(line.size(), 120u) << line;
    if (line.rfind("        + ", 0) == 0 || (line.rfind("          ", 0) == 0 && !joined.empty())) {
      joined += line.substr(10);
    }
    start = nl + 1;
  }
  EXPECT_EQ(joined, args.dump()) << text;
  // In Markdown every line of the block is still a '-' or '+' line.
  size_t begin = md.find("```diff\n") + 8;
  size_t end = md.find("```\n", begin);
  std::string block = md.substr(begin, end - begin);
  for (size_t s = 0; s < block.size();) {
    size_t nl = block.find('\n', s);
    char first = block[s];
    EXPECT_TRUE(first == '-' || first == '+' || block.compare(s, 2, "@@") == 0)
        << block.substr(s, nl - s);
    s = nl + 1;
  }
}

// U+202E (right-to-left override) and other invisible format characters passed through raw.
TEST(PlanViewTest, BidiAndInvisibleCharactersAreEscaped) {
  const std::string rlo = "\xE2\x80\xAE";      // U+202E
  const std::string lri = "\xE2\x81\xA6";      // U+2066
  const std::string zwsp = "\xE2\x80\x8B";     // U+200B
  const std::string csi = "\xC2\x9B";          // U+009B, a C1 control
  const std::string tag = "\xF3\xA0\x80\x81";  // U+E0001
  std::string evil = "safe" + rlo + "txt.exe" + lri + zwsp + csi + tag;
  Plan p = OnePlan(
      {KvPut("app/production/web/K" + rlo, "7", json(evil), json("plain")),
       AppUpdate("/app/production/web", {Change("/labels/x" + rlo, json(evil), json("ok"))})});
  p.unmanaged.push_back({"app/production/other" + rlo, "no galley label"});
  p.warnings.push_back("warning with " + rlo);
  for (const std::string& view :
       {RenderPlanText(p, false), RenderPlanText(p, true), RenderPlanMarkdown(p)}) {
    for (const std::string* raw : {&rlo, &lri, &zwsp, &csi, &tag}) {
      EXPECT_EQ(view.find(*raw), std::string::npos) << view;
    }
    EXPECT_NE(view.find("\\u202e"), std::string::npos) << view;
  }
  std::string text = RenderPlanText(p, false);
  EXPECT_NE(text.find("\"safe\\u202etxt.exe\\u2066\\u200b\\u009b\\udb40\\udc01\""),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("consul key app/production/web/K\\u202e"), std::string::npos) << text;
  // Still the same JSON value when parsed back.
  EXPECT_EQ(json::parse(DisplayValue(json(evil))).get<std::string>(), evil);
  // Ordinary non-ASCII text is left alone.
  EXPECT_EQ(DisplayValue(json("caf\xC3\xA9 \xE2\x86\x92")), "\"caf\xC3\xA9 \xE2\x86\x92\"");
}

TEST(PlanViewTest, WrapLine) {
  EXPECT_EQ(WrapLine("short", 10), std::vector<std::string>{"short"});
  EXPECT_EQ(WrapLine("", 10), std::vector<std::string>{""});
  EXPECT_EQ(WrapLine("aaaa,bbbb,cccc", 10), (std::vector<std::string>{"aaaa,bbbb,", "cccc"}));
  EXPECT_EQ(WrapLine("abcdefghijklmnop", 8), (std::vector<std::string>{"abcdefgh", "ijklmnop"}));
  // Never inside a UTF-8 sequence.
  std::string e = "\xC3\xA9";
  std::string s = "abcdefg" + e + "hij";
  auto lines = WrapLine(s, 8);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "abcdefg");
  EXPECT_EQ(lines[1], e + "hij");
}

}  // namespace
}  // namespace galley::engine
