// SPDX-License-Identifier: Apache-2.0
// FindDrift: what galley applied and live no longer matches (changed, deleted by hand),
// kept apart from pending changes (never applied; Git moved too) and from unmanaged
// objects; ignore pointers and the drift policy; secrets never shown; scope; how an open
// drift record was settled; the JSON shape and the text/Markdown views.
#include "engine/drift.h"

#include <gtest/gtest.h>

#include "base/digest.h"
#include "engine/normalize.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;
using model::DriftPolicy;

constexpr char kWebId[] = "/app/production/web";
constexpr char kWebResource[] = "marathon-app:/app/production/web";

json App(const std::string& id, int instances, const std::string& tag = "v1") {
  return json{
      {"id", id},
      {"instances", instances},
      {"cpus", 0.1},
      {"mem", 64.0},
      {"args", {"run"}},
      {"labels", {{"version", tag}, {"galley.platform", "p"}, {"galley.config-digest", "d1"}}},
      {"container", {{"type", "DOCKER"}, {"docker", {{"image", "r/web:" + tag}}}}}};
}

// The app as Marathon returns it: version and versionInfo added.
model::LiveApp Live(json body, const std::string& scaled_at = "2026-05-01T10:00:00.000Z",
                    const std::string& config_at = "2026-04-01T09:00:00.000Z") {
  body["version"] = std::max(scaled_at, config_at);
  body["versionInfo"] = {{"lastScalingAt", scaled_at}, {"lastConfigChangeAt", config_at}};
  model::LiveApp a;
  a.id = body["id"];
  a.version = body["version"];
  a.last_config_change_at = config_at;
  a.instances = body.value("instances", 1);
  a.body = std::move(body);
  return a;
}

class DriftTest : public ::testing::Test {
 protected:
  DriftTest() {
    in_.platform = "p";
    in_.environments = {"production", "staging"};
    in_.app_prefixes = {"/app/production/", "/app/staging/"};
    in_.kv_prefixes = {"app/production/", "app/staging/"};
    in_.kv_exact_keys = {"service/haproxy/maxconn"};
    in_.declared_services = {"web"};
    in_.hmac_key = "k";
  }
  void Want(const json& body, const std::string& env = "production",
            std::vector<std::string> ignore = {}) {
    in_.apps.push_back(DesiredApp{"web", env, body["id"], body, std::move(ignore), false});
  }
  void Applied(const json& body) { in_.applied_apps[body["id"]] = NormalizeApp(body); }
  void Have(const json& body) { in_.live.apps[body["id"]] = Live(body); }
  void WantKv(const std::string& key, std::optional<std::string> value, bool secret = false) {
    in_.kv.push_back(
        DesiredKv{"web", "production", key, value, secret, secret ? "env:SECRET" : "", false});
  }
  void AppliedKv(const std::string& key, const std::string& value, bool secret = false) {
    in_.applied_kv[key] = (secret ? "secret:" : "") + HmacSha256Hex("k", value);
  }
  void HaveKv(const std::string& key, const std::string& value, uint64_t index) {
    in_.live.kv[key] = model::LiveKvEntry{key, value, index, 0, ""};
  }
  // Git, what galley applied and live all at `instances`.
  void InSync(int instances) {
    Want(App(kWebId, instances));
    Applied(App(kWebId, instances));
    Have(App(kWebId, instances));
  }
  DriftReport Find() { return FindDrift(in_); }
  PlanInput in_;
};

TEST_F(DriftTest, NothingWhenLiveMatchesWhatWasApplied) {
  InSync(4);
  WantKv("app/production/web/LOG_LEVEL", "info");
  AppliedKv("app/production/web/LOG_LEVEL", "info");
  HaveKv("app/production/web/LOG_LEVEL", "info", 5);
  DriftReport r = Find();
  EXPECT_FALSE(r.HasDrift());
  EXPECT_TRUE(r.unmanaged.empty());
  EXPECT_NE(
      RenderDriftText(r, false).find("No drift: live objects match what galley last applied."),
      std::string::npos);
}

TEST_F(DriftTest, ManualScaleIsAChangeOfInstancesWithWhenItWasScaled) {
  Want(App(kWebId, 4));
  Applied(App(kWebId, 4));
  Have(App(kWebId, 6));
  DriftReport r = Find();
  ASSERT_EQ(r.drift.size(), 1u);
  const DriftItem& i = r.drift[0];
  EXPECT_EQ(i.resource, kWebResource);
  EXPECT_EQ(i.kind, model::ResourceKind::kMarathonApp);
  EXPECT_EQ(i.what, DriftWhat::kChanged);
  EXPECT_EQ(i.env, "production");
  EXPECT_EQ(i.service, "web");
  ASSERT_EQ(i.fields.size(), 1u);
  EXPECT_EQ(i.fields[0].pointer, "/instances");
  EXPECT_EQ(i.fields[0].before, 4);
  EXPECT_EQ(i.fields[0].after, 6);
  EXPECT_FALSE(i.pending);
  EXPECT_EQ(i.policy, DriftPolicy::kRevert);
  EXPECT_EQ(i.change, "scale");
  EXPECT_EQ(i.last_scaling_at, "2026-05-01T10:00:00.000Z");
  EXPECT_EQ(i.last_config_change_at, "2026-04-01T09:00:00.000Z");
  EXPECT_EQ(i.live_version, "2026-05-01T10:00:00.000Z");
  std::string text = RenderDriftText(r, false);
  EXPECT_NE(text.find("  ~ /app/production/web  instances: 4 → 6 (applied → live), scaled "
                      "2026-05-01T10:00:00.000Z\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("policy revert: the next apply puts it back"), std::string::npos) << text;
  EXPECT_NE(text.find("Drift: 1 changed, 0 deleted by hand."), std::string::npos) << text;
}

TEST_F(DriftTest, ScaleToTheDefaultShowsTheRawValue) {
  Want(App(kWebId, 4));
  Applied(App(kWebId, 4));
  Have(App(kWebId, 1));  // 1 is Marathon's default: normalisation drops it
  DriftReport r = Find();
  ASSERT_EQ(r.drift.size(), 1u);
  ASSERT_EQ(r.drift[0].fields.size(), 1u);
  EXPECT_EQ(r.drift[0].fields[0].after, 1);
}

TEST_F(DriftTest, ConfigChangeListsEveryFieldAndWhenTheConfigChanged) {
  Want(App(kWebId, 4));
  Applied(App(kWebId, 4));
  json live = App(kWebId, 4);
  live["cpus"] = 0.5;
  live["labels"]["team"] = "ops";
  Have(live);
  DriftReport r = Find();
  ASSERT_EQ(r.drift.size(), 1u);
  EXPECT_EQ(r.drift[0].change, "config");
  ASSERT_EQ(r.drift[0].fields.size(), 2u);
  EXPECT_EQ(r.drift[0].fields[0].pointer, "/cpus");
  EXPECT_EQ(r.drift[0].fields[1].pointer, "/labels/team");
  EXPECT_FALSE(r.drift[0].fields[1].before_present);
  std::string text = RenderDriftText(r, false);
  EXPECT_NE(text.find("2 fields (applied → live), config changed 2026-04-01T09:00:00.000Z"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("        labels.team: (absent) → \"ops\""), std::string::npos) << text;
}

TEST_F(DriftTest, KvValueEditedByHand) {
  WantKv("app/production/web/LOG_LEVEL", "info");
  AppliedKv("app/production/web/LOG_LEVEL", "info");
  HaveKv("app/production/web/LOG_LEVEL", "trace", 42);
  DriftReport r = Find();
  ASSERT_EQ(r.drift.size(), 1u);
  const DriftItem& i = r.drift[0];
  EXPECT_EQ(i.resource, "consul-kv:app/production/web/LOG_LEVEL");
  EXPECT_EQ(i.kind, model::ResourceKind::kConsulKv);
  EXPECT_EQ(i.what, DriftWhat::kChanged);
  EXPECT_FALSE(i.sensitive);
  ASSERT_EQ(i.fields.size(), 1u);
  EXPECT_EQ(i.fields[0].pointer, "/value");
  EXPECT_EQ(i.fields[0].before, "info");
  EXPECT_EQ(i.fields[0].after, "trace");
  EXPECT_EQ(i.modify_index, 42u);
  EXPECT_NE(RenderDriftText(r, false).find(
                "value: \"info\" → \"trace\" (applied → live), ModifyIndex 42"),
            std::string::npos)
      << RenderDriftText(r, false);
}

TEST_F(DriftTest, SecretEditedByHandIsNeverShown) {
  WantKv("app/production/web/DATABASE_URL", "postgres://s3cret", /*secret=*/true);
  AppliedKv("app/production/web/DATABASE_URL", "postgres://s3cret", /*secret=*/true);
  HaveKv("app/production/web/DATABASE_URL", "postgres://hacked", 43);
  DriftReport r = Find();
  ASSERT_EQ(r.drift.size(), 1u);
  EXPECT_TRUE(r.drift[0].sensitive);
  EXPECT_EQ(r.drift[0].fields[0].after, "(secret changed)");
  std::string text = RenderDriftText(r, false), md = RenderDriftMarkdown(r),
              js = DriftToJson(r).dump();
  EXPECT_NE(text.find("value: (secret changed), ModifyIndex 43"), std::string::npos) << text;
  for (const std::string* s : {&text, &md, &js}) {
    EXPECT_EQ(s->find("s3cret"), std::string::npos) << *s;
    EXPECT_EQ(s->find("hacked"), std::string::npos) << *s;
  }
}

TEST_F(DriftTest, AValueThatWasASecretWhenAppliedIsNotShown) {
  WantKv("app/production/web/TOKEN", "now-a-literal");
  AppliedKv("app/production/web/TOKEN", "old-secret", /*secret=*/true);
  HaveKv("app/production/web/TOKEN", "edited", 7);
  DriftReport r = Find();
  ASSERT_EQ(r.drift.size(), 1u);
  EXPECT_TRUE(r.drift[0].sensitive);
  EXPECT_TRUE(r.drift[0].pending);  // Git turned it from a secret into a literal
  EXPECT_EQ(DriftToJson(r).dump().find("edited"), std::string::npos);
}

TEST_F(DriftTest, AppAndKeyDeletedByHand) {
  Want(App(kWebId, 4));
  Applied(App(kWebId, 4));
  WantKv("app/production/web/LOG_LEVEL", "info");
  AppliedKv("app/production/web/LOG_LEVEL", "info");
  DriftReport r = Find();
  ASSERT_EQ(r.drift.size(), 2u);
  EXPECT_EQ(r.drift[0].resource, "consul-kv:app/production/web/LOG_LEVEL");
  EXPECT_EQ(r.drift[0].what, DriftWhat::kDeleted);
  EXPECT_EQ(r.drift[0].fields[0].before, "info");
  EXPECT_FALSE(r.drift[0].fields[0].after_present);
  EXPECT_EQ(r.drift[1].resource, kWebResource);
  EXPECT_EQ(r.drift[1].what, DriftWhat::kDeleted);
  EXPECT_FALSE(r.drift[1].pending);
  r.drift[1].applied_at = "2026-03-01T00:00:00.000Z";
  std::string text = RenderDriftText(r, false);
  EXPECT_NE(text.find("- /app/production/web" + std::string(11, ' ') +
                      "deleted by hand (galley applied it 2026-03-01T00:00:00.000Z)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Drift: 0 changed, 2 deleted by hand."), std::string::npos) << text;
}

TEST_F(DriftTest, WithoutThePlatformKeyKeyValuesAreNotComparedButDeletionsAreFound) {
  in_.hmac_key = "ephemeral";
  in_.hmac_key_durable = false;
  WantKv("app/production/web/LOG_LEVEL", "info");
  AppliedKv("app/production/web/LOG_LEVEL", "info");  // under the real key "k"
  HaveKv("app/production/web/LOG_LEVEL", "info", 5);
  WantKv("app/production/web/GONE", "x");
  AppliedKv("app/production/web/GONE", "x");
  DriftReport r = Find();
  ASSERT_EQ(r.drift.size(), 1u);
  EXPECT_EQ(r.drift[0].resource, "consul-kv:app/production/web/GONE");
  EXPECT_EQ(r.drift[0].what, DriftWhat::kDeleted);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("no HMAC key"), std::string::npos);
}

TEST_F(DriftTest, ControlCharactersInLiveIdsNeverReachTheTerminal) {
  HaveKv("app/production/x\033[2J/KEY", "v", 1);
  std::string text = RenderDriftText(Find(), false);
  EXPECT_EQ(text.find('\033'), std::string::npos) << text;
  EXPECT_NE(text.find("app/production/x?[2J/KEY"), std::string::npos) << text;
}

TEST_F(DriftTest, ANeverAppliedDifferenceIsPendingNotDrift) {
  Want(App(kWebId, 4));
  Have(App(kWebId, 6));
  WantKv("app/production/web/LOG_LEVEL", "info");
  HaveKv("app/production/web/LOG_LEVEL", "trace", 3);
  DriftReport r = Find();
  EXPECT_FALSE(r.HasDrift());
  EXPECT_TRUE(r.unmanaged.empty());  // declared and labelled: galley's, just never applied
}

TEST_F(DriftTest, GitAndLiveBothChangedIsDriftMarkedPending) {
  Applied(App(kWebId, 4, "v1"));
  Want(App(kWebId, 4, "v2"));  // Git moved on
  Have(App(kWebId, 6, "v1"));  // and someone scaled by hand
  DriftReport r = Find();
  ASSERT_EQ(r.drift.size(), 1u);
  EXPECT_TRUE(r.drift[0].pending);
  ASSERT_EQ(r.drift[0].fields.size(), 1u);  // applied → live only: Git's change is the plan's
  EXPECT_EQ(r.drift[0].fields[0].pointer, "/instances");
  EXPECT_NE(RenderDriftText(r, false).find("pending: Git changed it too"), std::string::npos);
  EXPECT_NE(RenderDriftText(r, false).find("(1 also changed in Git: pending)"), std::string::npos);
}

TEST_F(DriftTest, WhereGitAlreadyEqualsLiveItIsNotDrift) {
  Applied(App(kWebId, 4));
  Want(App(kWebId, 6));  // the hand scale was committed
  Have(App(kWebId, 6));
  WantKv("app/production/web/LOG_LEVEL", "trace");
  AppliedKv("app/production/web/LOG_LEVEL", "info");
  HaveKv("app/production/web/LOG_LEVEL", "trace", 9);
  DriftReport r = Find();
  EXPECT_FALSE(r.HasDrift());
  EXPECT_EQ(r.converged,
            (std::vector<std::string>{"consul-kv:app/production/web/LOG_LEVEL", kWebResource}));
}

TEST_F(DriftTest, UnmanagedObjectsAreListedApartNeverDrift) {
  InSync(2);
  Have(json{{"id", "/app/production/legacy"}, {"cmd", "sleep 1"}});
  Have(json{{"id", "/elsewhere/thing"}, {"cmd", "sleep 1"}});  // outside the managed prefixes
  HaveKv("app/production/web/FOREIGN", "x", 4);
  HaveKv("app/staging/nobody/KEY", "y", 5);
  DriftReport r = Find();
  EXPECT_FALSE(r.HasDrift());
  ASSERT_EQ(r.unmanaged.size(), 3u);
  EXPECT_EQ(r.unmanaged[0].resource, "consul-kv:app/production/web/FOREIGN");
  EXPECT_EQ(r.unmanaged[0].why, "galley never wrote it: not galley's, never deleted");
  EXPECT_EQ(r.unmanaged[1].resource, "consul-kv:app/staging/nobody/KEY");
  EXPECT_EQ(r.unmanaged[2].resource, "marathon-app:/app/production/legacy");
  EXPECT_EQ(r.unmanaged[2].what, DriftWhat::kUnmanaged);
  EXPECT_EQ(
      r.unmanaged[2].why,
      "has no galley.platform=p label and galley never applied it: not galley's, never deleted");
  EXPECT_FALSE(r.unmanaged[2].prune);
  std::string text = RenderDriftText(r, false);
  EXPECT_NE(
      text.find(
          "Unmanaged under managed prefixes (not drift; galley does not own them):\n"
          "  ? app/production/web/FOREIGN: galley never wrote it: not galley's, never deleted\n"),
      std::string::npos)
      << text;
  EXPECT_EQ(text.find("\"x\""), std::string::npos) << "an unmanaged key's value was printed";
  EXPECT_NE(text.find("No drift"), std::string::npos);

  // Prune deletes only what galley owns (DESIGN §8.16): an app with galley's label, never
  // an unlabelled app or a key galley never wrote.
  in_.policies.environments["production"].all.prune = true;
  Have(App("/app/production/orphan", 1));
  r = Find();
  ASSERT_EQ(r.unmanaged.size(), 4u);
  EXPECT_FALSE(r.unmanaged[0].prune);  // FOREIGN
  EXPECT_FALSE(r.unmanaged[2].prune);  // legacy
  EXPECT_EQ(r.unmanaged[3].resource, "marathon-app:/app/production/orphan");
  EXPECT_TRUE(r.unmanaged[3].prune);
}

TEST_F(DriftTest, ADeclaredAppWithoutGalleysLabelIsUnmanaged) {
  Want(App(kWebId, 4));
  json live = App(kWebId, 4);
  live["labels"].erase("galley.platform");
  Have(live);
  DriftReport r = Find();
  ASSERT_EQ(r.unmanaged.size(), 1u);
  EXPECT_NE(r.unmanaged[0].why.find("galley does not take it over"), std::string::npos);
  EXPECT_FALSE(r.unmanaged[0].prune);
}

TEST_F(DriftTest, IgnorePointersSilenceFields) {
  Want(App(kWebId, 4), "production", {"/instances"});
  Applied(App(kWebId, 4));
  Have(App(kWebId, 9));
  DriftReport r = Find();
  EXPECT_FALSE(r.HasDrift());
  EXPECT_EQ(r.silenced, std::vector<std::string>{kWebResource});

  // Other fields still drift, without the ignored one.
  json live = App(kWebId, 9);
  live["mem"] = 128.0;
  Have(live);
  r = Find();
  ASSERT_EQ(r.drift.size(), 1u);
  ASSERT_EQ(r.drift[0].fields.size(), 1u);
  EXPECT_EQ(r.drift[0].fields[0].pointer, "/mem");
}

TEST_F(DriftTest, PolicyIgnoreDropsAndReportIsCarried) {
  Want(App(kWebId, 4));
  Applied(App(kWebId, 4));
  Have(App(kWebId, 6));
  WantKv("app/production/web/LOG_LEVEL", "info");
  AppliedKv("app/production/web/LOG_LEVEL", "info");
  HaveKv("app/production/web/LOG_LEVEL", "trace", 42);
  in_.policies.services["web"].marathon_app.drift = DriftPolicy::kIgnore;
  in_.policies.platform.all.drift = DriftPolicy::kReport;
  DriftReport r = Find();
  ASSERT_EQ(r.drift.size(), 1u);
  EXPECT_EQ(r.drift[0].kind, model::ResourceKind::kConsulKv);
  EXPECT_EQ(r.drift[0].policy, DriftPolicy::kReport);
  EXPECT_EQ(r.ignored, std::vector<std::string>{kWebResource});
  std::string text = RenderDriftText(r, false);
  EXPECT_NE(text.find("policy report: apply leaves it and says so"), std::string::npos) << text;
  EXPECT_NE(text.find("1 ignored by policy."), std::string::npos) << text;
}

TEST_F(DriftTest, PausedDriftIsStillReportedAndSaysSo) {
  InSync(4);
  in_.live.apps[kWebId] = Live(App(kWebId, 5));
  in_.apps[0].paused = true;
  DriftReport r = Find();
  ASSERT_EQ(r.drift.size(), 1u);
  EXPECT_TRUE(r.drift[0].paused);
  EXPECT_NE(RenderDriftText(r, false).find("paused: apply leaves it alone"), std::string::npos);
}

TEST_F(DriftTest, ScopeLimitsWhatIsCheckedAndResolved) {
  Want(App(kWebId, 4));
  Applied(App(kWebId, 4));
  Have(App(kWebId, 6));
  json staging = App("/app/staging/web", 1);
  Want(staging, "staging");
  Applied(staging);
  Have(App("/app/staging/web", 3));
  EXPECT_EQ(Find().drift.size(), 2u);
  in_.environments = {"staging"};
  DriftReport r = Find();
  ASSERT_EQ(r.drift.size(), 1u);
  EXPECT_EQ(r.drift[0].target, "/app/staging/web");
  EXPECT_FALSE(DriftInScope(in_, kWebResource));
  EXPECT_TRUE(DriftInScope(in_, "marathon-app:/app/staging/web"));
  EXPECT_TRUE(DriftInScope(in_, "consul-kv:app/staging/web/LOG_LEVEL"));
  EXPECT_TRUE(DriftInScope(
      in_, "consul-kv:service/haproxy/maxconn"));  // platform-wide: in every environment scope
  in_.environments = {"production", "staging"};
  in_.targets = {"api"};
  EXPECT_FALSE(DriftInScope(in_, kWebResource));
  EXPECT_FALSE(DriftInScope(
      in_, "consul-kv:service/haproxy/maxconn"));  // platform-wide: untargeted runs only
  EXPECT_TRUE(DriftInScope(in_, "marathon-app:/app/production/api"));
}

TEST_F(DriftTest, HowAnOpenRecordWasSettled) {
  InSync(4);
  std::string fields = R"([{"path": "/instances", "applied": 4, "live": 6}])";
  // Live back at 4: reverted (by hand or by apply).
  EXPECT_EQ(DriftResolution(in_, Find(), kWebResource, fields), "reverted");
  // Live still at 6 and galley's record caught up: accepted.
  Want(App(kWebId, 6));
  in_.apps.erase(in_.apps.begin());
  Applied(App(kWebId, 6));
  Have(App(kWebId, 6));
  EXPECT_EQ(DriftResolution(in_, Find(), kWebResource, fields), "accepted");
  // Silenced by an ignore pointer: ignored.
  in_.apps[0].ignore = {"/instances"};
  Applied(App(kWebId, 4));
  DriftReport r = Find();
  EXPECT_FALSE(r.HasDrift());
  EXPECT_EQ(DriftResolution(in_, r, kWebResource, fields), "ignored");
  // A secret's record cannot be told apart: reverted.
  EXPECT_EQ(DriftResolution(
                in_, r, "consul-kv:app/production/web/DB",
                R"j([{"path": "/value", "applied": "(sensitive)", "live": "(secret changed)"}])j"),
            "reverted");
}

TEST_F(DriftTest, JsonShape) {
  Want(App(kWebId, 4));
  Applied(App(kWebId, 4));
  Have(App(kWebId, 6));
  Have(json{{"id", "/app/production/legacy"}, {"cmd", "sleep 1"}});
  DriftReport r = Find();
  r.commit = "abc";
  r.checked_at = "2026-05-02T00:00:00.000Z";
  r.drift[0].first_seen = "2026-05-01T11:00:00.000Z";
  r.drift[0].last_seen = "2026-05-02T00:00:00.000Z";
  r.resolved.push_back({"consul-kv:app/production/web/X", "reverted"});
  json j = DriftToJson(r);
  EXPECT_EQ(j["galley_drift"], 1);
  EXPECT_EQ(j["platform"], "p");
  EXPECT_EQ(j["counts"]["drift"], 1);
  EXPECT_EQ(j["counts"]["unmanaged"], 1);
  EXPECT_EQ(j["counts"]["resolved"], 1);
  const json& d = j["drift"][0];
  EXPECT_EQ(d["resource"], kWebResource);
  EXPECT_EQ(d["kind"], "marathon_app");
  EXPECT_EQ(d["what"], "changed");
  EXPECT_EQ(d["policy"], "revert");
  EXPECT_EQ(d["fields"], json::parse(R"([{"path": "/instances", "applied": 4, "live": 6}])"));
  EXPECT_EQ(d["live"]["change"], "scale");
  EXPECT_EQ(d["live"]["last_scaling_at"], "2026-05-01T10:00:00.000Z");
  EXPECT_EQ(d["first_seen"], "2026-05-01T11:00:00.000Z");
  EXPECT_EQ(j["unmanaged"][0]["target"], "/app/production/legacy");
  EXPECT_EQ(j["resolved"][0]["resolution"], "reverted");
  EXPECT_EQ(DriftFieldsJson(r.drift[0]).dump(), R"([{"applied":4,"live":6,"path":"/instances"}])");

  std::string md = RenderDriftMarkdown(r);
  EXPECT_NE(md.find("### galley drift: `p` @ `abc`"), std::string::npos) << md;
  EXPECT_NE(md.find("| `~` | `/app/production/web` | production | web | changed: instances (scaled "
                    "2026-05-01T10:00:00.000Z) | revert | 2026-05-01T11:00:00.000Z |"),
            std::string::npos)
      << md;
}

}  // namespace
}  // namespace galley::engine
