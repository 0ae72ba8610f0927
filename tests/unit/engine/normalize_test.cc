// SPDX-License-Identifier: Apache-2.0
// An app rendered by galley and read back from Marathon (1.5+ or 1.4 shapes) normalises to
// the same document, so an untouched app never shows a diff.
#include "engine/normalize.h"

#include <gtest/gtest.h>

#include "engine/desired.h"
#include "engine/diff.h"
#include "render/marathon_app.h"
#include "spec/loader.h"
#include "support/temp_repo.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

json Rendered() {
  auto r = spec::LoadRepository(galley::testing::SourceRoot() + "/examples/reference");
  const auto* s = r.state.FindService("test-server");
  return json::parse(
      render::RenderMarathonApp(r.state.platform, *s, *s->FindEnvironment("production")).dump());
}

json Fixture(const std::string& name) {
  return json::parse(galley::testing::ReadText(galley::testing::SourceRoot() +
                                               "/tests/testdata/marathon/" + name))["app"];
}

std::string Diffs(const json& a, const json& b) {
  std::string out;
  for (const auto& c : DiffJson(NormalizeApp(a), NormalizeApp(b))) {
    out += c.pointer + ": " + (c.before_present ? c.before.dump() : "-") + " -> " +
           (c.after_present ? c.after.dump() : "-") + "\n";
  }
  return out;
}

// The same JSON, value and type (signed, unsigned, float), member by member.
void ExpectSameJson(const json& a, const json& b, const std::string& at) {
  ASSERT_EQ(a.type(), b.type()) << at << ": " << a.dump() << " vs " << b.dump();
  if (a.is_object()) {
    ASSERT_EQ(a.size(), b.size()) << at;
    for (auto it = a.begin(); it != a.end(); ++it) {
      ASSERT_TRUE(b.contains(it.key())) << at << "/" << it.key();
      ExpectSameJson(*it, b.at(it.key()), at + "/" + it.key());
    }
  } else if (a.is_array()) {
    ASSERT_EQ(a.size(), b.size()) << at;
    for (size_t i = 0; i < a.size(); ++i) ExpectSameJson(a[i], b[i], at + "/" + std::to_string(i));
  } else {
    EXPECT_EQ(a, b) << at;
  }
}

// BuildDesired converts the rendered (insertion-ordered) app without printing and re-parsing
// it: every reference app is the value and the types the parser would give.
TEST(NormalizeTest, DesiredBodiesAreTheRenderedAppsAsParsed) {
  auto r = spec::LoadRepository(galley::testing::SourceRoot() + "/examples/reference");
  ASSERT_FALSE(r.diags.HasErrors());
  DesiredSet set = BuildDesired(
      r.state, [](const model::ConfigValue&) { return std::optional<std::string>("x"); }, "key",
      {});
  ASSERT_FALSE(set.apps.empty());
  for (const auto& app : set.apps) {
    const auto* s = r.state.FindService(app.service);
    ASSERT_NE(s, nullptr);
    json parsed = json::parse(
        render::RenderMarathonApp(r.state.platform, *s, *s->FindEnvironment(app.env)).dump());
    json body = app.body;
    if (!parsed["labels"].contains(kConfigDigestLabel)) body["labels"].erase(kConfigDigestLabel);
    ExpectSameJson(body, parsed, app.id);
  }
}

TEST(NormalizeTest, ReadBackFrom15ShowsNoDiff) {
  EXPECT_EQ(Diffs(Fixture("test-server-1.5.json"), Rendered()), "");
}

TEST(NormalizeTest, ReadBackFrom14ShowsNoDiff) {
  EXPECT_EQ(Diffs(Fixture("test-server-1.4.json"), Rendered()), "");
}

TEST(NormalizeTest, RealChangesStillShow) {
  json live = Fixture("test-server-1.5.json");
  live["instances"] = 6;
  live["env"]["EXTRA"] = "1";
  live["healthChecks"][0]["path"] = "/other";
  EXPECT_EQ(Diffs(live, Rendered()),
            "/env/EXTRA: \"1\" -> -\n/healthChecks/0/path: \"/other\" -> "
            "\"/healthcheck\"\n/instances: 6 -> 4\n");
}

TEST(NormalizeTest, AbsentNullAndEmptyCollectionsAreTheSame) {
  json a = {{"id", "app/x/"},
            {"cmd", "run"},
            {"env", nullptr},
            {"labels", json::object()},
            {"constraints", json::array()}};
  json b = {{"id", "/app/x"}, {"cmd", "run"}};
  EXPECT_EQ(NormalizeApp(a), NormalizeApp(b));
}

TEST(NormalizeTest, PortDefinitionsAbsentMeansOneDefaultPortButEmptyMeansNone) {
  json absent = {{"id", "/a"}, {"cmd", "x"}};
  json one = {{"id", "/a"},
              {"cmd", "x"},
              {"portDefinitions", {{{"port", 10003}, {"protocol", "tcp"}, {"name", "default"}}}}};
  json none = {{"id", "/a"}, {"cmd", "x"}, {"portDefinitions", json::array()}};
  EXPECT_EQ(NormalizeApp(absent), NormalizeApp(one));
  EXPECT_NE(NormalizeApp(absent), NormalizeApp(none));
}

// Marathon's own pairs (marathon-events.md §4.1): each request normalises like what Marathon
// stored for it, and for both port fields absent and [] stay apart.
TEST(NormalizeTest, PortListsAbsentAndEmptyNormaliseAsMarathonStoresThem) {
  const std::string dir = galley::testing::SourceRoot() + "/tests/testdata/marathon/normalization/";
  auto load = [&](const std::string& name) {
    return json::parse(galley::testing::ReadText(dir + name + ".json"));
  };
  for (const char* name : {"bridge-portMappings-absent", "bridge-portMappings-empty",
                           "host-portDefinitions-absent", "host-portDefinitions-empty"}) {
    json request = load(std::string(name) + ".request"),
         stored = load(std::string(name) + ".stored");
    request.erase("id");
    stored.erase("id");
    EXPECT_EQ(NormalizeApp(request), NormalizeApp(stored)) << name;
  }
  for (const char* kind : {"bridge-portMappings", "host-portDefinitions"}) {
    json absent = load(std::string(kind) + "-absent.stored"),
         empty = load(std::string(kind) + "-empty.stored");
    absent.erase("id");
    empty.erase("id");
    EXPECT_NE(NormalizeApp(absent), NormalizeApp(empty)) << kind;
  }
  // 1.4 input: docker.portMappings [] is no mapping; null or absent is the default one.
  json legacy = {
      {"args", {"x"}},
      {"container",
       {{"docker", {{"image", "w:1"}, {"network", "BRIDGE"}, {"portMappings", json::array()}}}}}};
  json none = legacy, null_mappings = legacy, absent = legacy;
  null_mappings["container"]["docker"]["portMappings"] = nullptr;
  absent["container"]["docker"].erase("portMappings");
  json live_none = {
      {"args", {"x"}},
      {"networks", {{{"mode", "container/bridge"}}}},
      {"container",
       {{"type", "DOCKER"}, {"docker", {{"image", "w:1"}}}, {"portMappings", json::array()}}}};
  EXPECT_EQ(NormalizeApp(none), NormalizeApp(live_none));
  EXPECT_NE(NormalizeApp(null_mappings), NormalizeApp(live_none));
  EXPECT_NE(NormalizeApp(absent), NormalizeApp(live_none));
  EXPECT_EQ(NormalizeApp(null_mappings), NormalizeApp(absent));
}

TEST(NormalizeTest, AbsentUpgradeStrategyMeansOneOne) {
  json absent = {{"id", "/a"}, {"cmd", "x"}};
  json explicit_default = {
      {"id", "/a"},
      {"cmd", "x"},
      {"upgradeStrategy", {{"minimumHealthCapacity", 1}, {"maximumOverCapacity", 1}}}};
  json half = {{"id", "/a"},
               {"cmd", "x"},
               {"upgradeStrategy", {{"minimumHealthCapacity", 0.5}, {"maximumOverCapacity", 1}}}};
  EXPECT_EQ(NormalizeApp(absent), NormalizeApp(explicit_default));
  EXPECT_NE(NormalizeApp(absent), NormalizeApp(half));
}

TEST(NormalizeTest, SetLikeListsCompareWithoutOrder) {
  json a = {{"id", "/a"},
            {"cmd", "x"},
            {"healthChecks", {{{"protocol", "TCP"}}, {{"path", "/h"}, {"protocol", "HTTP"}}}},
            {"constraints", json::array({json::array({"hostname", "UNIQUE"}),
                                         json::array({"rack", "GROUP_BY"})})}};
  json b = {{"id", "/a"},
            {"cmd", "x"},
            {"healthChecks", {{{"path", "/h"}}, {{"protocol", "TCP"}}}},
            {"constraints", json::array({json::array({"rack", "GROUP_BY"}),
                                         json::array({"hostname", "UNIQUE"})})}};
  EXPECT_EQ(NormalizeApp(a), NormalizeApp(b));
  b["constraints"][0][1] = "CLUSTER";
  EXPECT_NE(NormalizeApp(a), NormalizeApp(b));
}

TEST(NormalizeTest, RemovesIgnoredPointers) {
  json doc = {{"instances", 3}, {"labels", {{"team", "a"}, {"keep", "b"}}}, {"list", {1, 2, 3}}};
  RemovePointers(doc, {"/instances", "/labels/team", "/list/1", "/nope", "not-a-pointer"});
  EXPECT_EQ(doc, json::parse(R"({"labels": {"keep": "b"}, "list": [1, 3]})"));
}

TEST(DiffTest, ReportsAddedRemovedAndChangedFields) {
  json a = {{"a", 1}, {"b", {{"c", 2}}}, {"l", {1, 2}}, {"x/y", 1}};
  json b = {{"b", {{"c", 3}}}, {"l", {1, 2, 3}}, {"d", true}, {"x/y", 2}};
  auto d = DiffJson(a, b);
  ASSERT_EQ(d.size(), 5u);
  EXPECT_EQ(d[0].pointer, "/a");
  EXPECT_FALSE(d[0].after_present);
  EXPECT_EQ(d[1].pointer, "/b/c");
  EXPECT_EQ(d[2].pointer, "/l");  // lengths differ: whole array
  EXPECT_EQ(d[3].pointer, "/x~1y");
  EXPECT_EQ(d[4].pointer, "/d");
  EXPECT_FALSE(d[4].before_present);
  EXPECT_TRUE(DiffJson(a, a).empty());
}

}  // namespace
}  // namespace galley::engine
