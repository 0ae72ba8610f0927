// SPDX-License-Identifier: Apache-2.0
#include "base/diagnostics.h"

#include <memory>

#include <gtest/gtest.h>

namespace galley {
namespace {

TEST(DiagnosticsTest, RendersSourceLineCaretAndHint) {
  Diagnostics d;
  d.AddSource("s.yaml", std::make_shared<const std::string>("name: web\nimgae: web\n"));
  d.Error({"s.yaml", 2, 1}, "unknown key 'imgae' in a service file", "one of: name, image",
          "did you mean 'image'?");
  EXPECT_EQ(
      d.RenderAll(),
      "s.yaml:2:1: error: unknown key 'imgae' in a service file (expected one of: name, image)\n"
      "    imgae: web\n"
      "    ^\n"
      "    did you mean 'image'?\n"
      "1 error, 0 warnings\n");
}

TEST(DiagnosticsTest, KeepsTabsSoTheCaretLinesUp) {
  Diagnostics d;
  d.AddSource("f", std::make_shared<const std::string>("\tkey: x\n"));
  d.Warning({"f", 1, 7}, "w");
  EXPECT_EQ(d.Render(d.items()[0]), "f:1:7: warning: w\n    \tkey: x\n    \t     ^\n");
}

TEST(DiagnosticsTest, CutsLongLinesAroundTheColumn) {
  Diagnostics d;
  std::string line(1000, 'a');
  line[700] = 'X';
  d.AddSource("f", std::make_shared<const std::string>(line));
  d.Error({"f", 1, 701}, "here");
  std::string out = d.Render(d.items()[0]);
  EXPECT_LT(out.size(), 400u);
  size_t quoted = out.find('\n') + 1;
  size_t caret = out.find('^');
  size_t x = out.find('X');
  ASSERT_NE(x, std::string::npos);
  EXPECT_EQ(caret - out.find('\n', quoted) - 1, x - quoted);
}

TEST(DiagnosticsTest, SortsByFileLineColumnAndCounts) {
  Diagnostics d;
  d.Error({"b", 1, 1}, "3");
  d.Warning({"a", 9, 1}, "2");
  d.Error({"a", 2, 5}, "1");
  d.Sort();
  EXPECT_EQ(d.items()[0].what, "1");
  EXPECT_EQ(d.items()[1].what, "2");
  EXPECT_EQ(d.items()[2].what, "3");
  EXPECT_EQ(d.error_count(), 2);
  EXPECT_EQ(d.warning_count(), 1);
  EXPECT_TRUE(d.HasErrors());
}

TEST(DiagnosticsTest, FileLevelProblemsHaveNoLine) {
  Diagnostics d;
  d.Error({"x.yaml", 0, 0}, "file is empty", "a YAML mapping");
  EXPECT_EQ(d.Render(d.items()[0]), "x.yaml: error: file is empty (expected a YAML mapping)\n");
}

}  // namespace
}  // namespace galley
