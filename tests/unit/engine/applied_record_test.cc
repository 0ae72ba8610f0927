// SPDX-License-Identifier: Apache-2.0
// The applied-record format, both halves: what apply writes is what plan reads back.
#include "engine/applied_record.h"

#include <gtest/gtest.h>

#include "engine/plan.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

TEST(AppliedRecord, WhatIsWrittenReadsBack) {
  AppliedStamp stamp{"2024-05-01T10:00:00Z", "c0ffee", "me@host", 7};
  json app = {{"id", "/app/production/web"}, {"instances", 2}};
  std::vector<AppliedItem> items = {
      {true, "/app/production/web", "production", "web", app},
      {false, "app/production/web/A", "production", "web", json{{"hmac", "h1"}, {"secret", false}}},
      {false, "app/production/web/DB", "production", "web",
       json{{"hmac", "h2"}, {"secret", true}}}};
  EXPECT_EQ(AppliedRecordKey("galley/p/applied/", "production", "web"),
            "galley/p/applied/production/web");
  EXPECT_EQ(AppliedRecordKey("galley/p/applied/", "", ""), "galley/p/applied/_platform");
  std::string text = UpdateAppliedRecord("", items, stamp);

  auto rec = ParseAppliedRecord(text);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->app, std::optional<json>(app));
  EXPECT_EQ(rec->kv.at("app/production/web/A"), "h1");
  EXPECT_EQ(rec->kv.at("app/production/web/DB"), "secret:h2");
  EXPECT_EQ(rec->applied_at, "2024-05-01T10:00:00Z");

  // A later delete of one key keeps the rest of the document.
  AppliedStamp later{"2024-05-02T10:00:00Z", "d00d", "you@host", 8};
  std::string after = UpdateAppliedRecord(
      text, {{false, "app/production/web/A", "production", "web", json{{"absent", true}}}}, later);
  rec = ParseAppliedRecord(after);
  ASSERT_TRUE(rec.has_value());
  EXPECT_FALSE(rec->kv.count("app/production/web/A"));
  EXPECT_TRUE(rec->kv.count("app/production/web/DB"));
  EXPECT_TRUE(rec->app.has_value());
  EXPECT_EQ(json::parse(after)["run"], 8);

  // The store's rows of the same items, read back by the same half as plan reads them.
  auto rows = AppliedRows(items, stamp);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].resource, "marathon-app:/app/production/web");
  EXPECT_EQ(rows[2].body, "secret:h2");
  std::map<std::string, store::Applied> by_resource;
  for (const auto& r : rows) by_resource[r.resource] = r;
  LastAppliedView view;
  AddStoreApplied(by_resource, &view);
  EXPECT_EQ(view.apps.at("/app/production/web"), app);
  EXPECT_EQ(view.kv.at("app/production/web/A"), "h1");
  EXPECT_EQ(view.at.at("kv:app/production/web/A"), "2024-05-01T10:00:00Z");
}

TEST(AppliedRecord, TheNewerOfStoreAndConsulWinsAndMalformedRecordsAreNamed) {
  LastAppliedView view;
  view.kv["k1"] = "old";
  view.at["kv:k1"] = "2024-01-01T00:00:00Z";
  view.kv["k2"] = "store";
  view.at["kv:k2"] = "2024-09-01T00:00:00Z";
  std::map<std::string, model::LiveKvEntry> records;
  records["galley/p/applied/production/web"].value = json{
      {"kv", {{"k1", "new"}, {"k2", "consul"}, {"k3", 5}}},
      {"applied_at", "2024-05-01T00:00:00Z"}}.dump();
  records["galley/p/applied/production/bad"].value = "not json";
  auto warnings = MergeAppliedRecords(records, &view);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "ignored a malformed applied record at galley/p/applied/production/bad");
  EXPECT_EQ(view.kv["k1"], "new");    // Consul's is newer
  EXPECT_EQ(view.kv["k2"], "store");  // the store's is newer
  EXPECT_FALSE(view.kv.count("k3"));  // not a string
  // Every key a record names counts as a place galley applied to, whatever its value.
  auto targets = AppliedRecordTargets(records);
  EXPECT_EQ(targets, (std::vector<std::string>{"k1", "k2", "k3"}));
}

// Issue #14: the records in Consul merged first, then only the store rows that are newer,
// give what the store brought up to date from the records gives (ties go to the record).
TEST(AppliedRecord, MergingRecordsFirstThenNewerStoreRowsGivesTheSameView) {
  auto row = [](const std::string& body, const std::string& at) {
    store::Applied r;
    r.body = body;
    r.applied_at = at;
    return r;
  };
  std::map<std::string, store::Applied> rows;
  rows["marathon-app:/app/a"] = row(R"({"id":"/app/a","instances":1})", "2024-01-01T00:00:00Z");
  rows["marathon-app:/app/b"] = row(R"({"id":"/app/b","instances":9})", "2024-09-01T00:00:00Z");
  rows["marathon-app:/app/c"] = row(R"({"id":"/app/c","instances":3})", "2024-05-01T00:00:00Z");
  rows["consul-kv:k1"] = row("store-k1", "2024-09-01T00:00:00Z");
  rows["consul-kv:k2"] = row("store-k2", "2024-01-01T00:00:00Z");
  std::map<std::string, model::LiveKvEntry> records;
  records["galley/p/applied/production/a"].value = json{
      {"app", {{"id", "/app/a"}, {"instances", 2}}},
      {"kv", {{"k1", "rec-k1"}, {"k2", "rec-k2"}}},
      {"applied_at", "2024-05-01T00:00:00Z"}}.dump();
  records["galley/p/applied/production/b"].value = json{
      {"app", {{"id", "/app/b"}, {"instances", 2}}},
      {"applied_at", "2024-05-01T00:00:00Z"}}.dump();
  records["galley/p/applied/production/c"].value = json{
      {"app", {{"id", "/app/c"}, {"instances", 4}}},
      {"applied_at", "2024-05-01T00:00:00Z"}}.dump();

  LastAppliedView store_first;
  AddStoreApplied(rows, &store_first);
  MergeAppliedRecords(records, &store_first);
  LastAppliedView records_first;
  std::vector<std::string> targets;
  MergeAppliedRecords(records, &records_first, &targets);
  AddStoreApplied(rows, &records_first, /*only_newer=*/true);
  EXPECT_EQ(records_first.apps, store_first.apps);
  EXPECT_EQ(records_first.kv, store_first.kv);
  EXPECT_EQ(records_first.at, store_first.at);
  EXPECT_EQ(records_first.apps.at("/app/a")["instances"], 2);  // the record is newer
  EXPECT_EQ(records_first.apps.at("/app/b")["instances"], 9);  // the store's row is newer
  EXPECT_EQ(records_first.apps.at("/app/c")["instances"], 4);  // a tie goes to the record
  EXPECT_EQ(records_first.kv.at("k1"), "store-k1");
  EXPECT_EQ(records_first.kv.at("k2"), "rec-k2");
  EXPECT_EQ(targets, AppliedRecordTargets(records));
}

TEST(AppliedRecord, ResourceKeysParseBack) {
  EXPECT_EQ(ParseResourceKey(ResourceKey(model::ResourceKind::kMarathonApp, "/app/x"))->target,
            "/app/x");
  EXPECT_EQ(ParseResourceKey("marathon-app:/app/x")->kind, model::ResourceKind::kMarathonApp);
  EXPECT_EQ(ParseResourceKey("consul-kv:a/b")->kind, model::ResourceKind::kConsulKv);
  EXPECT_EQ(ParseResourceKey("consul-kv:a/b")->target, "a/b");
  EXPECT_FALSE(ParseResourceKey("something-else:x").has_value());
}

}  // namespace
}  // namespace galley::engine
