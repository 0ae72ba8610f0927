// SPDX-License-Identifier: Apache-2.0
// The planner's decisions: kinds, reasons (pending vs drift), ownership, prune, paused,
// policies, secrets compared by HMAC only, ordering, and the plan file round trip.
#include "engine/planner.h"

#include <gtest/gtest.h>

#include "base/digest.h"
#include "engine/desired.h"
#include "engine/normalize.h"
#include "engine/view_text.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

json App(const std::string& id, int instances, const std::string& tag,
         const std::string& digest = "d1") {
  return json{
      {"id", id},
      {"instances", instances},
      {"cpus", 0.1},
      {"mem", 64.0},
      {"args", {"run"}},
      {"labels", {{"version", tag}, {"galley.platform", "p"}, {"galley.config-digest", digest}}},
      {"container", {{"type", "DOCKER"}, {"docker", {{"image", "r/web:" + tag}}}}}};
}

model::LiveApp Live(const json& body, const std::string& version = "v-live") {
  model::LiveApp a;
  a.id = body["id"];
  a.body = body;
  a.version = version;
  a.instances = body.value("instances", 1);
  return a;
}

class PlannerTest : public ::testing::Test {
 protected:
  PlannerTest() {
    in_.platform = "p";
    in_.environments = {"production", "staging"};
    in_.app_prefixes = {"/app/production/", "/app/staging/"};
    in_.kv_prefixes = {"app/production/", "app/staging/"};
    in_.declared_services = {"web"};
    in_.hmac_key = "k";
  }
  void Want(const json& body, const std::string& service = "web",
            const std::string& env = "production") {
    in_.apps.push_back(DesiredApp{service, env, body["id"], body, {}, false});
  }
  void WantKv(const std::string& key, std::optional<std::string> value, bool secret = false) {
    in_.kv.push_back(
        DesiredKv{"web", "production", key, value, secret, secret ? "env:SECRET" : "", false});
  }
  void HaveKv(const std::string& key, const std::string& value, uint64_t index) {
    in_.live.kv[key] = model::LiveKvEntry{key, value, index, 0, ""};
  }
  Plan Make() { return MakePlan(in_); }
  PlanInput in_;
};

TEST_F(PlannerTest, CreatesWhatIsMissing) {
  Want(App("/app/production/web", 2, "v1"));
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, ActionKind::kAppCreate);
  EXPECT_EQ(p.actions[0].reason, Reason::kNew);
  EXPECT_EQ(p.actions[0].token, "0");
  EXPECT_EQ(p.actions[0].desired["instances"], 2);
}

TEST_F(PlannerTest, NoChangeWhenLiveMatches) {
  Want(App("/app/production/web", 2, "v1"));
  json live = App("/app/production/web", 2, "v1");
  live["version"] = "2026-01-01T00:00:00.000Z";
  live["tasksRunning"] = 2;
  live["networks"] = {{{"mode", "host"}}};
  live["portDefinitions"] = {{{"port", 10000}, {"protocol", "tcp"}, {"name", "default"}}};
  in_.live.apps["/app/production/web"] = Live(live);
  EXPECT_FALSE(Make().HasChanges());
}

TEST_F(PlannerTest, ScaleOnlyWhenOnlyInstancesDiffer) {
  Want(App("/app/production/web", 4, "v1"));
  in_.live.apps["/app/production/web"] = Live(App("/app/production/web", 2, "v1"), "2026-ver");
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, ActionKind::kAppScale);
  EXPECT_EQ(p.actions[0].reason, Reason::kDesiredChanged);  // nothing applied yet: pending
  EXPECT_EQ(p.actions[0].token, "2026-ver");
  ASSERT_EQ(p.actions[0].changes.size(), 1u);
  EXPECT_EQ(p.actions[0].changes[0].pointer, "/instances");
}

TEST_F(PlannerTest, ConfigDigestChangeIsARestartAndKvPutComesFirst) {
  Want(App("/app/production/web", 2, "v1", "d2"));
  in_.live.apps["/app/production/web"] = Live(App("/app/production/web", 2, "v1", "d1"));
  WantKv("app/production/web/LOG_LEVEL", "debug");
  HaveKv("app/production/web/LOG_LEVEL", "info", 17);
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 2u);
  EXPECT_EQ(p.actions[0].kind, ActionKind::kKvPut);
  EXPECT_EQ(p.actions[0].token, "17");
  EXPECT_EQ(p.actions[0].changes[0].before, "info");
  EXPECT_EQ(p.actions[0].changes[0].after, "debug");
  EXPECT_EQ(p.actions[1].kind, ActionKind::kAppRestart);
  EXPECT_EQ(p.actions[1].depends_on, std::vector<std::string>{"kv:app/production/web/LOG_LEVEL"});
}

TEST_F(PlannerTest, TagChangeIsAnUpdate) {
  Want(App("/app/production/web", 2, "v2"));
  in_.live.apps["/app/production/web"] = Live(App("/app/production/web", 2, "v1"));
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, ActionKind::kAppUpdate);
}

TEST_F(PlannerTest, DriftVersusPending) {
  json applied = App("/app/production/web", 2, "v1");
  in_.applied_apps["/app/production/web"] = NormalizeApp(applied);
  // Git unchanged, live scaled by hand: drift.
  Want(applied);
  in_.live.apps["/app/production/web"] = Live(App("/app/production/web", 5, "v1"));
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].reason, Reason::kDrifted);
  // Git moved too: pending, with a note about the drift.
  in_.apps.clear();
  Want(App("/app/production/web", 2, "v2"));
  p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].reason, Reason::kDesiredChanged);
  ASSERT_EQ(p.actions[0].notes.size(), 1u);
  EXPECT_NE(
      p.actions[0].notes[0].find("live also drifted from what galley last applied: /instances"),
      std::string::npos);
}

TEST_F(PlannerTest, AnAppDeletedByHandIsDrift) {
  json body = App("/app/production/web", 2, "v1");
  in_.applied_apps["/app/production/web"] = NormalizeApp(body);
  Want(body);
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, ActionKind::kAppCreate);
  EXPECT_EQ(p.actions[0].reason, Reason::kDrifted);
}

TEST_F(PlannerTest, DriftPolicyReportAndIgnore) {
  json body = App("/app/production/web", 2, "v1");
  in_.applied_apps["/app/production/web"] = NormalizeApp(body);
  Want(body);
  in_.live.apps["/app/production/web"] = Live(App("/app/production/web", 5, "v1"));
  in_.policies.platform.all.drift = model::DriftPolicy::kReport;
  Plan p = Make();
  EXPECT_TRUE(p.actions.empty());
  ASSERT_EQ(p.drift_reported.size(), 1u);
  EXPECT_EQ(p.drift_reported[0].why, "drifted: /instances");
  in_.policies.platform.all.drift = model::DriftPolicy::kIgnore;
  p = Make();
  EXPECT_TRUE(p.actions.empty());
  EXPECT_TRUE(p.drift_reported.empty());
}

TEST_F(PlannerTest, IgnorePointersSilenceFields) {
  json want = App("/app/production/web", 2, "v1");
  in_.apps.push_back(
      DesiredApp{"web", "production", "/app/production/web", want, {"/instances"}, false});
  in_.live.apps["/app/production/web"] = Live(App("/app/production/web", 9, "v1"));
  EXPECT_FALSE(Make().HasChanges());
}

TEST_F(PlannerTest, IgnoredFieldsKeepTheirLiveValuesInTheBodySent) {
  json want = App("/app/production/web", 2, "v2");
  in_.apps.push_back(DesiredApp{
      "web", "production", "/app/production/web", want, {"/instances", "/labels/team"}, false});
  json live = App("/app/production/web", 9, "v1");
  live["labels"]["team"] = "edge";
  in_.live.apps["/app/production/web"] = Live(live);
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, ActionKind::kAppUpdate);
  EXPECT_EQ(p.actions[0].desired["instances"], 9);
  EXPECT_EQ(p.actions[0].desired["labels"]["team"], "edge");
  EXPECT_EQ(p.actions[0].desired["labels"]["version"], "v2");
  for (const auto& c : p.actions[0].changes) EXPECT_NE(c.pointer, "/instances");
}

TEST_F(PlannerTest, UnmanagedAndOrphansAreNeverTouchedWithoutPrune) {
  json legacy = App("/app/production/legacy", 1, "v0");
  legacy["labels"].erase("galley.platform");
  in_.live.apps["/app/production/legacy"] = Live(legacy);
  in_.live.apps["/app/production/old"] = Live(App("/app/production/old", 1, "v0"));
  in_.live.apps["/other/app"] = Live(App("/other/app", 1, "v0"));
  HaveKv("app/production/web/FOREIGN", "x", 3);
  HaveKv("app/production/web/OLD", "y", 4);
  in_.applied_kv["app/production/web/OLD"] = HmacSha256Hex("k", "y");
  Plan p = Make();
  EXPECT_TRUE(p.actions.empty());
  ASSERT_EQ(p.unmanaged.size(), 4u);
  EXPECT_EQ(p.unmanaged[0].target, "/app/production/legacy");
  EXPECT_NE(p.unmanaged[1].why.find("orphan"), std::string::npos);
  EXPECT_EQ(p.unmanaged[2].target, "app/production/web/FOREIGN");
  EXPECT_EQ(p.unmanaged[3].target, "app/production/web/OLD");

  in_.policies.platform.all.prune = true;
  p = Make();
  ASSERT_EQ(p.actions.size(), 2u);
  EXPECT_EQ(p.actions[0].kind, ActionKind::kAppDelete);
  EXPECT_EQ(p.actions[0].target, "/app/production/old");
  EXPECT_EQ(p.actions[1].kind, ActionKind::kKvDelete);
  EXPECT_EQ(p.actions[1].target, "app/production/web/OLD");
  EXPECT_TRUE(p.actions[1].sensitive);
  for (const auto& a : p.actions) EXPECT_NE(a.target, "/other/app");
}

// DESIGN §8.16: whatever the prune setting, what galley does not own (no label on an app,
// no applied record) is listed and never deleted.
TEST_F(PlannerTest, PruneDeletesOnlyWhatGalleyOwns) {
  in_.policies.platform.all.prune = true;
  json theirs = App("/app/production/cron-by-hand", 1, "v0");
  theirs["labels"].erase("galley.platform");
  in_.live.apps["/app/production/cron-by-hand"] = Live(theirs);
  HaveKv("app/production/web/SET_BY_HAND", "x", 3);  // under a declared service's prefix
  HaveKv("app/staging/nobody/KEY", "x", 4);          // under no declared service
  Plan p = Make();
  EXPECT_TRUE(p.actions.empty()) << PlanToJson(p).dump(2);
  ASSERT_EQ(p.unmanaged.size(), 3u);
  EXPECT_EQ(
      p.unmanaged[0].why,
      "has no galley.platform=p label and galley never applied it: not galley's, never deleted");
  EXPECT_EQ(p.unmanaged[1].why, "galley never wrote it: not galley's, never deleted");
  EXPECT_EQ(p.unmanaged[2].target, "app/staging/nobody/KEY");
  // An app galley applied but whose label someone removed is still galley's.
  in_.applied_apps["/app/production/cron-by-hand"] =
      NormalizeApp(App("/app/production/cron-by-hand", 1, "v0"));
  p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].target, "/app/production/cron-by-hand");
}

// Removing a service or an environment from Git deletes exactly what galley applied for it,
// apps and keys, shown as removed from Git (never as a "foreign key").
TEST_F(PlannerTest, RemovingAServiceOrAnEnvironmentDeletesWhatGalleyAppliedForIt) {
  in_.policies.platform.all.prune = true;
  in_.app_prefixes.push_back("/app/qa/");
  in_.kv_prefixes.push_back("app/qa/");
  in_.environments.push_back("qa");
  in_.removed_environments = {"qa"};
  for (const std::string id : {"/app/production/gone", "/app/qa/web"}) {
    in_.live.apps[id] = Live(App(id, 1, "v0"));
    in_.applied_apps[id] = NormalizeApp(App(id, 1, "v0"));
  }
  for (const std::string key :
       {"app/production/gone/A", "app/qa/web/B", "app/production/web/DROPPED"}) {
    HaveKv(key, "v", 5);
    in_.applied_kv[key] = HmacSha256Hex("k", "v");
  }
  HaveKv("app/production/gone/BY_HAND", "x", 6);  // galley never wrote it: stays
  Plan p = Make();
  std::map<std::string, std::string> why;
  for (const auto& a : p.actions) {
    EXPECT_TRUE(a.kind == ActionKind::kAppDelete || a.kind == ActionKind::kKvDelete) << a.target;
    why[a.target] = a.notes.empty() ? "" : a.notes[0];
  }
  EXPECT_EQ(why,
            (std::map<std::string, std::string>{
                {"/app/production/gone",
                 "removed from Git (service gone is no longer declared); galley applied it"},
                {"/app/qa/web",
                 "removed from Git (environment qa is no longer declared); galley applied it"},
                {"app/production/gone/A",
                 "removed from Git (service gone is no longer declared); galley applied it"},
                {"app/production/web/DROPPED",
                 "removed from Git (no longer in the config of service web for production); galley "
                 "applied it"},
                {"app/qa/web/B",
                 "removed from Git (environment qa is no longer declared); galley applied it"}}));
  ASSERT_EQ(p.unmanaged.size(), 1u);
  EXPECT_EQ(p.unmanaged[0].target, "app/production/gone/BY_HAND");
  std::string text = RenderPlanText(p, false);
  EXPECT_EQ(text.find("foreign key"), std::string::npos) << text;
  // The app's keys go after the app.
  for (const auto& a : p.actions) {
    if (a.target == "app/production/gone/A") {
      EXPECT_EQ(a.depends_on, std::vector<std::string>{"app:/app/production/gone"});
    }
  }
  // Narrowed to staging, nothing of production or qa is touched.
  in_.environments = {"staging"};
  EXPECT_TRUE(Make().actions.empty());
}

TEST_F(PlannerTest, TargetsAndEnvironmentsNarrowTheScope) {
  Want(App("/app/production/web", 2, "v1"));
  Want(App("/app/staging/web", 1, "v1"), "web", "staging");
  Want(App("/app/production/api", 1, "v1"), "api");
  in_.environments = {"staging"};
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].target, "/app/staging/web");
  in_.environments = {"production", "staging"};
  in_.targets = {"api"};
  p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].target, "/app/production/api");
}

TEST_F(PlannerTest, PausedIsSkippedAndSaysSo) {
  in_.apps.push_back(DesiredApp{
      "web", "production", "/app/production/web", App("/app/production/web", 2, "v1"), {}, true});
  Plan p = Make();
  EXPECT_TRUE(p.actions.empty());
  ASSERT_EQ(p.skipped.size(), 1u);
  EXPECT_EQ(p.skipped[0].why, "paused");
}

TEST_F(PlannerTest, SecretsCompareByHmacAndAreNeverShown) {
  WantKv("app/production/web/DB", std::string("postgres://new"), true);
  HaveKv("app/production/web/DB", "postgres://old", 5);
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_TRUE(p.actions[0].sensitive);
  EXPECT_EQ(p.actions[0].desired["hmac"], HmacSha256Hex("k", "postgres://new"));
  std::string all = PlanToJson(p).dump() + RenderPlanText(p, false) + RenderPlanMarkdown(p);
  EXPECT_EQ(all.find("postgres://"), std::string::npos);
  // Same value live: no change.
  in_.live.kv["app/production/web/DB"].value = "postgres://new";
  EXPECT_FALSE(Make().HasChanges());
}

TEST_F(PlannerTest, UnavailableSecretIsComparedWithLastApplied) {
  WantKv("app/production/web/DB", std::nullopt, true);
  HaveKv("app/production/web/DB", "s3cret", 5);
  in_.applied_kv["app/production/web/DB"] = HmacSha256Hex("k", "s3cret");
  Plan p = Make();
  EXPECT_FALSE(p.HasChanges());
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_NE(p.warnings[0].find("unavailable: compared with the last applied value"),
            std::string::npos);
  in_.live.kv["app/production/web/DB"].value = "edited by hand";
  p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].reason, Reason::kDrifted);
}

// Review findings, each a regression test.
TEST_F(PlannerTest, OddShapedOrphansBelongToTheEnvironmentOfTheirPrefix) {
  in_.policies.platform.all.prune = true;
  in_.environments = {"staging"};
  in_.live.apps["/app/production/team/foo"] = Live(App("/app/production/team/foo", 1, "v0"));
  HaveKv("app/production/FOO", "x", 2);
  in_.applied_kv["app/production/FOO"] = HmacSha256Hex("k", "x");
  Plan p = Make();
  EXPECT_TRUE(p.actions.empty()) << PlanToJson(p).dump(2);
  in_.environments = {"production", "staging"};
  p = Make();
  EXPECT_EQ(p.actions.size(), 2u);
}

TEST_F(PlannerTest, APausedEnvironmentOrServiceIsNotPruned) {
  in_.policies.platform.all.prune = true;
  in_.paused_environments = {"production"};
  in_.live.apps["/app/production/old"] = Live(App("/app/production/old", 1, "v0"));
  HaveKv("app/production/web/FOREIGN", "x", 3);
  in_.applied_kv["app/production/web/FOREIGN"] = HmacSha256Hex("k", "x");
  Plan p = Make();
  EXPECT_TRUE(p.actions.empty());
  EXPECT_EQ(p.skipped.size(), 2u);
  in_.paused_environments.clear();
  in_.apps.push_back(DesiredApp{
      "web", "production", "/app/production/web", App("/app/production/web", 1, "v1"), {}, true});
  p = Make();
  ASSERT_EQ(p.actions.size(),
            1u);  // only the undeclared app; web's foreign key waits while web is paused
  EXPECT_EQ(p.actions[0].target, "/app/production/old");
}

TEST_F(PlannerTest, ChangesToMarathonDefaultsShowTheirValues) {
  Want(App("/app/production/web", 1, "v1"));
  in_.live.apps["/app/production/web"] = Live(App("/app/production/web", 4, "v1"));
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, ActionKind::kAppScale);
  ASSERT_TRUE(p.actions[0].changes[0].after_present);
  EXPECT_EQ(p.actions[0].changes[0].after, 1);
  EXPECT_NE(RenderPlanText(p, false).find("instances: 4 → 1"), std::string::npos)
      << RenderPlanText(p, false);
}

TEST_F(PlannerTest, UnavailableSecretDriftFollowsThePolicy) {
  WantKv("app/production/web/DB", std::nullopt, true);
  HaveKv("app/production/web/DB", "edited", 5);
  in_.applied_kv["app/production/web/DB"] = "secret:" + HmacSha256Hex("k", "s3cret");
  in_.policies.platform.all.drift = model::DriftPolicy::kReport;
  Plan p = Make();
  EXPECT_TRUE(p.actions.empty());
  ASSERT_EQ(p.drift_reported.size(), 1u);
  // Deleted live with an applied record: drifted, not new.
  in_.policies.platform.all.drift = model::DriftPolicy::kRevert;
  in_.live.kv.clear();
  p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].reason, Reason::kDrifted);
}

TEST_F(PlannerTest, NoDurableKeyMeansNoHmacInThePlanFile) {
  in_.hmac_key_durable = false;
  WantKv("app/production/web/DB", std::string("v"), true);
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_FALSE(p.actions[0].desired.contains("hmac"));
  EXPECT_NE(p.actions[0].notes[0].find("verified at apply"), std::string::npos);
}

TEST_F(PlannerTest, AKeyThatWasASecretNeverPrintsItsOldValue) {
  WantKv("app/production/web/DB", std::string("now-a-literal"));
  HaveKv("app/production/web/DB", "old-secret-value", 5);
  in_.applied_kv["app/production/web/DB"] = "secret:" + HmacSha256Hex("k", "old-secret-value");
  Plan p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  std::string all = PlanToJson(p).dump() + RenderPlanText(p, false) + RenderPlanMarkdown(p);
  EXPECT_EQ(all.find("old-secret-value"), std::string::npos);
  EXPECT_NE(all.find("now-a-literal"), std::string::npos);
}

TEST_F(PlannerTest, ADeclaredAppWithoutGalleysLabelIsAPlanError) {
  Want(App("/app/production/web", 2, "v2"));
  json legacy = App("/app/production/web", 2, "v1");
  legacy["labels"].erase("galley.platform");
  in_.live.apps["/app/production/web"] = Live(legacy);
  Plan p = Make();
  EXPECT_TRUE(p.actions.empty());
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0],
            "app /app/production/web (service web, environment production) is declared, but the "
            "live app is not "
            "galley's (no galley.platform=p label, no applied record): adopt it first (galley "
            "adopt DIR --env production) or delete it by hand");
  EXPECT_EQ(PlanErrorsMessage(p), "the plan has 1 error; nothing planned:\n  " + p.errors[0]);
  // Unchanged, it is still an error, never a quiet "No changes".
  in_.apps[0].body = legacy;
  EXPECT_EQ(Make().errors.size(), 1u);
  // With galley's applied record it is galley's (adopted, DESIGN §8.16): compared with the
  // labels the record holds, so no restart only to add them; they come with the next real
  // change.
  in_.applied_apps["/app/production/web"] = NormalizeApp(App("/app/production/web", 2, "v1"));
  in_.apps[0].body = App("/app/production/web", 2, "v1");
  p = Make();
  EXPECT_TRUE(p.errors.empty());
  EXPECT_TRUE(p.actions.empty());
  in_.apps[0].body = App("/app/production/web", 3, "v1");
  p = Make();
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].changes[0].pointer, "/instances");
  EXPECT_EQ(p.actions[0].desired["labels"]["galley.platform"], "p");
}

TEST_F(PlannerTest, PlanFileRoundTripsAndHasAStableDigest) {
  Want(App("/app/production/web", 4, "v2"));
  in_.live.apps["/app/production/web"] = Live(App("/app/production/web", 2, "v1"));
  WantKv("app/production/web/LOG_LEVEL", "debug");
  Plan p = Make();
  p.commit = "abc";
  p.galley_version = "0.1.0";
  p.created_at = "2026-11-27T00:00:00.000Z";
  auto back = PlanFromJson(json::parse(PlanToJson(p).dump()));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(PlanToJson(*back), PlanToJson(p));
  EXPECT_EQ(PlanDigest(*back), PlanDigest(p));
  back->created_at = "later";
  EXPECT_EQ(PlanDigest(*back), PlanDigest(p));  // the time of planning is not part of its identity
  back->actions[0].token = "moved";
  EXPECT_NE(PlanDigest(*back), PlanDigest(p));
  EXPECT_FALSE(PlanFromJson(json::parse(R"({"galley_plan": 99})")).ok());
  EXPECT_FALSE(PlanFromJson(json::parse(R"({"x": 1})")).ok());
  // Dependencies must point at earlier actions: no unknown ids, no cycles.
  json doc = PlanToJson(p);
  ASSERT_EQ(doc["actions"].size(), 2u);
  doc["actions"][0]["depends_on"] = {doc["actions"][1]["id"]};  // the key after the app it feeds
  auto cyclic = PlanFromJson(doc);
  ASSERT_FALSE(cyclic.ok());
  EXPECT_NE(cyclic.status().message().find("not an earlier action"), std::string::npos)
      << cyclic.status().message();
  doc["actions"][0]["depends_on"] = {"app:/nowhere"};
  EXPECT_FALSE(PlanFromJson(doc).ok());
}

// Issue #14: the plan is serialised once; its text, digest and signature are exactly what
// SafeDump, PlanDigest and SignPlanDocument make from the document, so stored plans and
// signatures stay compatible.
TEST_F(PlannerTest, OneSerialisationMakesTheSameTextDigestAndSignature) {
  Want(App("/app/production/web", 4, "v2"));
  in_.live.apps["/app/production/web"] = Live(App("/app/production/web", 2, "v1"));
  WantKv("app/production/web/LOG_LEVEL", "debug");
  WantKv("app/production/web/NOTE", "caf\xc3\xa9 \"quoted\"\n");
  Plan p = Make();
  p.commit = "abc";
  p.created_at = "2026-12-08T00:00:00.000Z";
  p.warnings = {"w"};
  json doc = PlanToJson(p);
  SerializedPlan unsigned_plan = SerializePlanDocument(doc, "");
  EXPECT_EQ(unsigned_plan.text, SafeDump(doc));
  EXPECT_EQ(unsigned_plan.digest, PlanDigest(p));
  EXPECT_TRUE(unsigned_plan.signature.is_null());

  SerializedPlan signed_plan = SerializePlanDocument(doc, "platform key");
  EXPECT_EQ(signed_plan.digest, PlanDigest(p));
  EXPECT_EQ(signed_plan.signature, SignPlanDocument(doc, "platform key"));
  json with_signature = doc;
  with_signature["signature"] = signed_plan.signature;
  EXPECT_EQ(signed_plan.text, SafeDump(with_signature));
  EXPECT_TRUE(VerifyPlanDocument(json::parse(signed_plan.text), "platform key", "test").ok());

  // Taking the bodies makes the same document and leaves the actions without them.
  Plan taken = p;
  EXPECT_EQ(PlanToJsonTakingBodies(&taken), doc);
  for (const auto& a : taken.actions) EXPECT_TRUE(a.desired.is_null()) << a.id;
  EXPECT_EQ(taken.actions.size(), p.actions.size());
}

// Issue #10: a plan file is signed; any edit is refused and named, whatever the member.
TEST_F(PlannerTest, PlanFileSignatureRefusesEditsAndNamesThem) {
  Want(App("/app/production/web", 4, "v2"));
  in_.live.apps["/app/production/web"] = Live(App("/app/production/web", 2, "v1"));
  WantKv("app/production/web/LOG_LEVEL", "debug");
  Plan p = Make();
  p.commit = "abc";
  p.marathon_urls = {"http://m:8080"};
  p.consul_url = "http://c:8500";
  p.desired_digests = {{"production/web", "d1"}};
  p.signature = SignPlanDocument(PlanToJson(p), "platform key");
  // Through a file: written indented, read back, verified.
  json doc = json::parse(PlanToJson(p).dump(2));
  ASSERT_TRUE(VerifyPlanDocument(doc, "platform key", "test").ok());
  // The signature is not part of the plan's identity.
  auto back = PlanFromJson(doc);
  ASSERT_TRUE(back.ok());
  Plan unsigned_plan = p;
  unsigned_plan.signature = nullptr;
  EXPECT_EQ(PlanDigest(*back), PlanDigest(unsigned_plan));

  auto refused = [&](const json& d) {
    Status s = VerifyPlanDocument(d, "platform key", "test");
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
    return s.message();
  };
  // Actions come in dependency order: the key, then the app.
  ASSERT_EQ(doc["actions"][1]["id"], "app:/app/production/web");
  json image = doc;
  image["actions"][1]["desired"]["container"]["docker"]["image"] = "evil.example.com/web:1";
  EXPECT_EQ(refused(image), "it was changed after it was signed: action app:/app/production/web");
  json endpoint = doc;
  endpoint["endpoints"]["marathon"] = {"http://attacker:8080"};
  EXPECT_EQ(refused(endpoint), "it was changed after it was signed: endpoints");
  json dropped = doc;
  dropped["actions"].erase(1);
  EXPECT_EQ(refused(dropped),
            "it was changed after it was signed: the number of actions, action "
            "app:/app/production/web (removed)");
  json added = doc;
  added["extra"] = 1;
  EXPECT_EQ(refused(added), "it was changed after it was signed: extra (added)");
  json reordered = doc;
  std::swap(reordered["actions"][0], reordered["actions"][1]);
  EXPECT_EQ(
      refused(reordered),
      "it was changed after it was signed: the order of its actions, or the signature itself");
  json resigned = image;  // re-signed with a guessed key
  resigned["signature"] = SignPlanDocument(image, "guess");
  EXPECT_NE(refused(resigned).find("signed with another key"), std::string::npos);
  json none = doc;
  none.erase("signature");
  EXPECT_NE(refused(none).find("it is not signed"), std::string::npos);
  json forged = image;  // the whole-plan HMAC replaced by a plain hash of the content
  forged["signature"]["plan"] = Sha256Hex(image.dump());
  EXPECT_NE(refused(forged).find("action app:/app/production/web"), std::string::npos);
  EXPECT_FALSE(VerifyPlanDocument(doc, "another platform key", "GALLEY_HMAC_KEY").ok());
}

TEST_F(PlannerTest, DesiredDigestsFollowTheRepositoryNotSecretsOrScope) {
  DesiredApp web{
      "web", "production", "/app/production/web", App("/app/production/web", 2, "v1"), {},
      false, nullptr};
  DesiredKv level{"web", "production", "app/production/web/LOG_LEVEL", std::string("debug"), false,
                  "",    false};
  DesiredKv db{"web",    "production", "app/production/web/DB", std::string("secret value"), true,
               "env:DB", false};
  DesiredKv maxconn{"", "", "service/haproxy/maxconn", std::string("4096"), false, "", false};
  auto digests = [&](std::vector<DesiredApp> apps, std::vector<DesiredKv> kv,
                     std::set<std::string> targets = {}) {
    return DesiredDigests(apps, kv, {"production"}, targets);
  };
  auto base = digests({web}, {level, db, maxconn});
  ASSERT_EQ(base.size(), 2u);
  EXPECT_TRUE(base.count("production/web") && base.count("(platform)"));
  // A secret's value and the config-digest label it feeds are not the repository's.
  DesiredApp relabelled = web;
  relabelled.body["labels"][kConfigDigestLabel] = "other";
  DesiredKv rotated = db;
  rotated.value = "rotated";
  EXPECT_EQ(digests({relabelled}, {level, rotated, maxconn}), base);
  // Everything else is.
  DesiredKv louder = level;
  louder.value = "warn";
  EXPECT_EQ(DesiredDifferences(base, digests({web}, {louder, db, maxconn})),
            std::vector<std::string>{"production/web: changed since the plan"});
  DesiredApp bigger = web;
  bigger.body["instances"] = 3;
  EXPECT_NE(digests({bigger}, {level, db, maxconn}), base);
  EXPECT_EQ(DesiredDifferences(base, digests({}, {maxconn})),
            std::vector<std::string>{"production/web: in the plan, no longer declared"});
  DesiredApp staging = web;
  staging.env = "staging";
  EXPECT_EQ(digests({web, staging}, {level, db, maxconn}), base);  // out of scope
  EXPECT_EQ(digests({web}, {level, db, maxconn}, {"web"}).count("(platform)"), 0u);
}

// The digests are written member by member (no copy of each body into a document); they must
// stay the digests of the canonical document they describe, which saved plans carry.
TEST_F(PlannerTest, DesiredDigestsAreThoseOfTheCanonicalGroupDocument) {
  auto reference = [](const std::vector<DesiredApp>& apps, const std::vector<DesiredKv>& kv,
                      const std::vector<DesiredModel>& models) {
    std::map<std::string, json> groups;
    auto group = [](const std::string& service, const std::string& env) {
      return service.empty() && env.empty() ? std::string("(platform)") : env + "/" + service;
    };
    for (const auto& a : apps) {
      json body = a.body;
      if (body.contains("labels") && body["labels"].is_object())
        body["labels"].erase(kConfigDigestLabel);
      groups[group(a.service, a.env)]["app"] =
          json{{"id", a.id}, {"body", body}, {"ignore", a.ignore}, {"paused", a.paused}};
    }
    for (const auto& k : kv) {
      groups[group(k.service, k.env)]["kv"][k.key] =
          k.secret ? json{{"secret", k.secret_source}, {"paused", k.paused}}
                   : json{{"value", k.value.value_or("")}, {"paused", k.paused}};
    }
    for (const auto& m : models) groups["(platform)"]["models"][m.instance] = m.digest;
    std::map<std::string, std::string> out;
    for (const auto& [name, g] : groups)
      out[name] = Sha256Hex(g.dump(-1, ' ', false, json::error_handler_t::replace));
    return out;
  };
  json body = App("/app/production/web", 2, "v1");
  body["labels"][kConfigDigestLabel] = "sha256:abc";
  body["labels"]["note"] = "caf\xc3\xa9 \xff broken utf-8 \"quoted\"\n";
  body["env"] = {{"Z", "1"}, {"A", "\\"}};
  DesiredApp web{"web", "production", "/app/production/web", body, {"/env/A", "/labels/x"},
                 true,  nullptr};
  json plain = App("/app/staging/web", 1, "v1");
  plain["labels"] = "not an object";
  DesiredApp odd{"web", "staging", "/app/staging/web", plain, {}, false, nullptr};
  DesiredApp empty_labels{"api", "staging", "/app/staging/api", json::object(), {}, false, nullptr};
  empty_labels.body["labels"] = {{kConfigDigestLabel, "x"}};
  DesiredApp not_object{"raw", "staging", "/app/staging/raw", json::array({1, "two"}), {},
                        false, nullptr};
  std::vector<DesiredKv> kv = {
      {"web", "production", "app/production/web/B", std::string("2"), false, "", false},
      {"web", "production", "app/production/web/A", std::nullopt, false, "", true},
      {"web", "production", "app/production/web/S", std::string("s"), true, "env:S", false},
      {"web", "production", "app/production/web/B", std::string("later wins"), false, "", false},
      {"api", "staging", "app/staging/api/\xe2\x82\xac", std::string("\x01\x7f"), false, "", false},
      {"", "", "service/haproxy/maxconn", std::string("4096"), false, "", false}};
  std::vector<DesiredModel> models = {{"internal", "k1", "{}", "sha256:1", 0},
                                      {"external", "k2", "{}", "sha256:2", 0}};
  std::vector<DesiredApp> apps = {web, odd, empty_labels, not_object};
  auto got = DesiredDigests(apps, kv, {"production", "staging"}, {}, models);
  EXPECT_EQ(got, reference(apps, kv, models));
  EXPECT_EQ(got.size(), 5u);
  // A group of KV only, and the platform group without models.
  EXPECT_EQ(DesiredDigests({}, kv, {"production", "staging"}, {}, {}), reference({}, kv, {}));
}

TEST_F(PlannerTest, TextOutputReadsLikeTerraform) {
  Want(App("/app/production/web", 4, "v2"));
  in_.live.apps["/app/production/web"] = Live(App("/app/production/web", 2, "v1"));
  Plan p = Make();
  std::string text = RenderPlanText(p, false);
  EXPECT_NE(text.find("~ update marathon app /app/production/web   (desired-changed)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("      instances:              2 → 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("labels.version:"), std::string::npos) << text;
  EXPECT_NE(text.find("\"v1\" → \"v2\""), std::string::npos) << text;
  EXPECT_NE(text.find("Plan: 0 to create, 1 to update, 0 to restart, 0 to scale, 0 to delete; KV: "
                      "0 to put, 0 to delete."),
            std::string::npos);
  EXPECT_EQ(text.find("\033["), std::string::npos);
  EXPECT_NE(RenderPlanText(p, true).find("\033[33m"), std::string::npos);
}

}  // namespace
}  // namespace galley::engine
