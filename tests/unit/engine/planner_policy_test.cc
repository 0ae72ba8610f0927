// SPDX-License-Identifier: Apache-2.0
// Drift and prune policy per kind / environment / service: model::Policies::Resolve's
// precedence (service+environment, service, platform environment, platform; a kind's block
// beats the general value within a level) and the planner applying it per action.
#include <gtest/gtest.h>

#include "base/digest.h"
#include "engine/normalize.h"
#include "engine/planner.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;
using model::DriftPolicy;
using model::EffectivePolicy;
using model::ResourceKind;

constexpr DriftPolicy kRevert = DriftPolicy::kRevert;
constexpr DriftPolicy kReport = DriftPolicy::kReport;
constexpr DriftPolicy kIgnore = DriftPolicy::kIgnore;

// ---- Resolution -------------------------------------------------------------------------

// Every level sets something, so that each row below is decided by a different level.
model::Policies AllLevels() {
  model::Policies p;
  p.platform.all = {kReport, false};
  p.platform.consul_kv = {std::nullopt, true};
  p.environments["staging"].all = {kIgnore, std::nullopt};
  p.environments["staging"].marathon_app = {std::nullopt, true};
  p.environments["qa"].consul_kv = {kRevert, false};
  p.services["web"].marathon_app = {kRevert, std::nullopt};
  p.services["api"].all = {kIgnore, true};
  p.service_environments[{"web", "staging"}].all = {std::nullopt, false};
  p.service_environments[{"web", "staging"}].consul_kv = {kReport, std::nullopt};
  p.service_environments[{"api", "production"}].marathon_app = {kRevert, false};
  return p;
}

struct Row {
  ResourceKind kind;
  const char* env;
  const char* service;
  DriftPolicy drift;
  bool prune;
  const char* why;
};

TEST(PolicyResolveTest, NothingSetMeansRevertAndNoPrune) {
  model::Policies p;
  for (auto kind : {ResourceKind::kMarathonApp, ResourceKind::kConsulKv}) {
    EXPECT_EQ(p.Resolve(kind, "production", "web"), (EffectivePolicy{kRevert, false}));
    EXPECT_EQ(p.Resolve(kind, "", ""), (EffectivePolicy{kRevert, false}));
  }
}

TEST(PolicyResolveTest, TheMostSpecificLevelThatSetsAValueWins) {
  constexpr auto kApp = ResourceKind::kMarathonApp;
  constexpr auto kKv = ResourceKind::kConsulKv;
  const Row rows[] = {
      {kApp, "production", "", kReport, false, "platform general"},
      {kKv, "production", "", kReport, true, "platform: consul_kv beats general for prune"},
      {kApp, "", "", kReport, false, "no env, no service: platform only"},
      {kKv, "", "", kReport, true, "platform-wide key: platform consul_kv"},
      {kApp, "staging", "", kIgnore, true, "platform env: general drift, marathon_app prune"},
      {kKv, "staging", "", kIgnore, true,
       "platform env drift; prune falls through to platform consul_kv"},
      {kKv, "qa", "", kRevert, false,
       "platform env consul_kv beats platform consul_kv and general"},
      {kApp, "qa", "", kReport, false, "qa says nothing for apps: platform"},
      {kApp, "production", "web", kRevert, false,
       "service marathon_app drift; prune from platform"},
      {kKv, "production", "web", kReport, true, "service says nothing for keys: platform"},
      {kApp, "staging", "web", kRevert, false,
       "service+env general prune false beats env marathon_app prune true; drift from the service"},
      {kKv, "staging", "web", kReport, false, "service+env consul_kv drift and general prune"},
      {kApp, "qa", "web", kRevert, false, "service beats platform"},
      {kApp, "staging", "api", kIgnore, true,
       "service general beats env kind block (prune) and env (drift)"},
      {kKv, "qa", "api", kIgnore, true, "service general beats platform env consul_kv"},
      {kApp, "production", "api", kRevert, false, "service+env kind beats service general"},
      {kKv, "production", "api", kIgnore, true, "service+env has nothing for keys: service"},
      {kApp, "", "api", kIgnore, true, "no env: service level still applies"},
      {kApp, "staging", "undeclared", kIgnore, true, "unknown service: env and platform"},
  };
  model::Policies p = AllLevels();
  for (const Row& r : rows) {
    EffectivePolicy got = p.Resolve(r.kind, r.env, r.service);
    EXPECT_EQ(got.drift, r.drift) << ResourceKindName(r.kind) << " " << r.env << "/" << r.service
                                  << ": " << r.why;
    EXPECT_EQ(got.prune, r.prune) << ResourceKindName(r.kind) << " " << r.env << "/" << r.service
                                  << ": " << r.why;
  }
}

TEST(PolicyResolveTest, AKindBlockBeatsTheGeneralValueOfItsLevelOnly) {
  model::Policies p;
  p.platform.marathon_app.drift = kIgnore;           // platform, apps
  p.environments["production"].all.drift = kReport;  // a more specific level, general
  EXPECT_EQ(p.Resolve(ResourceKind::kMarathonApp, "production", "").drift, kReport);
  EXPECT_EQ(p.Resolve(ResourceKind::kMarathonApp, "staging", "").drift, kIgnore);
  EXPECT_EQ(p.Resolve(ResourceKind::kConsulKv, "staging", "").drift, kRevert);
}

// ---- The planner --------------------------------------------------------------------------

json App(const std::string& id, int instances, const std::string& tag = "v1") {
  return json{
      {"id", id},
      {"instances", instances},
      {"cpus", 0.1},
      {"mem", 64.0},
      {"labels", {{"version", tag}, {"galley.platform", "p"}, {"galley.config-digest", "d1"}}},
      {"container", {{"type", "DOCKER"}, {"docker", {{"image", "r/web:" + tag}}}}}};
}

model::LiveApp Live(const json& body) {
  model::LiveApp a;
  a.id = body["id"];
  a.body = body;
  a.version = "v-live";
  a.instances = body.value("instances", 1);
  return a;
}

class PlannerPolicyTest : public ::testing::Test {
 protected:
  PlannerPolicyTest() {
    in_.platform = "p";
    in_.environments = {"production", "staging"};
    in_.app_prefixes = {"/app/production/", "/app/staging/"};
    in_.kv_prefixes = {"app/production/", "app/staging/"};
    in_.kv_exact_keys = {"service/haproxy/maxconn"};
    in_.declared_services = {"web", "api"};
    in_.hmac_key = "k";
  }
  // A declared app that galley applied with 2 instances and someone scaled to 5: drift.
  void DriftedApp(const std::string& service, const std::string& env) {
    std::string id = "/app/" + env + "/" + service;
    json body = App(id, 2);
    in_.apps.push_back(DesiredApp{service, env, id, body, {}, false});
    in_.applied_apps[id] = NormalizeApp(body);
    in_.live.apps[id] = Live(App(id, 5));
  }
  // A declared key galley applied as "info" that someone edited: drift.
  void DriftedKv(const std::string& service, const std::string& env, const std::string& key) {
    in_.kv.push_back(DesiredKv{service, env, key, std::string("info"), false, "", false});
    in_.applied_kv[key] = HmacSha256Hex("k", "info");
    in_.live.kv[key] = model::LiveKvEntry{key, "debug", 9, 0, ""};
  }
  void OrphanApp(const std::string& id) { in_.live.apps[id] = Live(App(id, 1)); }
  // A key galley wrote (it has galley's record) that Git no longer declares.
  void OrphanKv(const std::string& key) {
    in_.live.kv[key] = model::LiveKvEntry{key, "x", 4, 0, ""};
    in_.applied_kv[key] = HmacSha256Hex("k", "x");
  }
  static std::vector<std::string> Targets(const std::vector<Action>& actions) {
    std::vector<std::string> out;
    for (const auto& a : actions) out.push_back(a.target);
    return out;
  }
  static std::vector<std::string> Targets(const std::vector<PlanItem>& items) {
    std::vector<std::string> out;
    for (const auto& i : items) out.push_back(i.target);
    return out;
  }
  PlanInput in_;
};

TEST_F(PlannerPolicyTest, OneServiceReportsDriftWhileAnotherRevertsItInTheSameEnvironment) {
  DriftedApp("web", "production");
  DriftedApp("api", "production");
  in_.policies.platform.all.drift = kIgnore;
  in_.policies.services["web"].all.drift = kReport;
  in_.policies.services["api"].all.drift = kRevert;
  Plan p = MakePlan(in_);
  ASSERT_EQ(Targets(p.actions), std::vector<std::string>{"/app/production/api"});
  EXPECT_EQ(p.actions[0].kind, ActionKind::kAppScale);
  EXPECT_EQ(p.actions[0].reason, Reason::kDrifted);
  ASSERT_EQ(Targets(p.drift_reported), std::vector<std::string>{"/app/production/web"});
  EXPECT_EQ(p.drift_reported[0].why, "drifted: /instances");

  // A service+environment block narrows it further: web reverts in production after all.
  in_.policies.service_environments[{"web", "production"}].marathon_app.drift = kRevert;
  p = MakePlan(in_);
  EXPECT_EQ(Targets(p.actions),
            (std::vector<std::string>{"/app/production/api", "/app/production/web"}));
  EXPECT_TRUE(p.drift_reported.empty());
}

TEST_F(PlannerPolicyTest, KvDriftIgnoredWhileAppDriftIsReverted) {
  DriftedApp("web", "production");
  DriftedKv("web", "production", "app/production/web/LOG_LEVEL");
  in_.policies.platform.all.drift = kReport;
  in_.policies.platform.marathon_app.drift = kRevert;
  in_.policies.platform.consul_kv.drift = kIgnore;
  Plan p = MakePlan(in_);
  ASSERT_EQ(Targets(p.actions), std::vector<std::string>{"/app/production/web"});
  EXPECT_EQ(p.actions[0].reason, Reason::kDrifted);
  EXPECT_TRUE(p.drift_reported.empty());

  // Swapped: the key is reverted, the app's drift reported.
  in_.policies.platform.marathon_app.drift = kReport;
  in_.policies.platform.consul_kv.drift = kRevert;
  p = MakePlan(in_);
  ASSERT_EQ(Targets(p.actions), std::vector<std::string>{"app/production/web/LOG_LEVEL"});
  EXPECT_EQ(p.actions[0].kind, ActionKind::kKvPut);
  EXPECT_EQ(p.actions[0].reason, Reason::kDrifted);
  EXPECT_EQ(Targets(p.drift_reported), std::vector<std::string>{"/app/production/web"});
}

TEST_F(PlannerPolicyTest, DriftPolicyNeverHoldsBackAPendingChange) {
  json applied = App("/app/production/web", 2, "v1");
  in_.applied_apps["/app/production/web"] = NormalizeApp(applied);
  json want = App("/app/production/web", 2, "v2");  // Git moved
  in_.apps.push_back(DesiredApp{"web", "production", "/app/production/web", want, {}, false});
  in_.live.apps["/app/production/web"] =
      Live(App("/app/production/web", 5, "v1"));  // and live drifted
  in_.policies.platform.all.drift = kIgnore;
  Plan p = MakePlan(in_);
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].reason, Reason::kDesiredChanged);
  // ... but applying Git's change keeps the drift the policy does not revert: the body
  // apply sends carries live's 5 instances, and the change shown is the tag alone.
  EXPECT_EQ(p.actions[0].desired["instances"], 5);
  EXPECT_EQ(p.actions[0].kind, ActionKind::kAppUpdate);
  for (const auto& c : p.actions[0].changes) EXPECT_NE(c.pointer, "/instances");
  EXPECT_TRUE(p.drift_reported.empty());  // ignore: not even listed

  in_.policies.platform.all.drift = kReport;
  p = MakePlan(in_);
  EXPECT_EQ(p.actions[0].desired["instances"], 5);
  ASSERT_EQ(Targets(p.drift_reported), std::vector<std::string>{"/app/production/web"});
  // What apply records is Git's change with the kept field as galley last applied it...
  EXPECT_EQ(p.actions[0].record["instances"], 2);
  EXPECT_EQ(p.actions[0].record, [&] {
    json r = NormalizeApp(want);
    r["instances"] = 2;
    return r;
  }());
  // ...so after that apply, the hand scale is still drift (reported), not a Git change.
  {
    PlanInput next = in_;
    next.applied_apps["/app/production/web"] = p.actions[0].record;
    next.live.apps["/app/production/web"] = Live(App("/app/production/web", 5, "v2"));
    Plan after = MakePlan(next);
    EXPECT_TRUE(after.actions.empty()) << ReasonName(after.actions[0].reason);
    EXPECT_EQ(Targets(after.drift_reported), std::vector<std::string>{"/app/production/web"});
  }

  // revert: Git's whole definition, the hand scale undone.
  in_.policies.platform.all.drift = kRevert;
  p = MakePlan(in_);
  EXPECT_EQ(p.actions[0].desired["instances"], 2);
  // A field Git and live both changed is Git's, whatever the policy.
  in_.policies.platform.all.drift = kReport;
  in_.apps[0].body["instances"] = 3;
  p = MakePlan(in_);
  EXPECT_EQ(p.actions[0].desired["instances"], 3);
}

TEST_F(PlannerPolicyTest, PruneOnInOneEnvironmentOnly) {
  OrphanApp("/app/production/old");
  OrphanApp("/app/staging/old");
  OrphanKv("app/production/old/KEY");
  OrphanKv("app/staging/old/KEY");
  in_.policies.environments["staging"].all.prune = true;
  Plan p = MakePlan(in_);
  EXPECT_EQ(Targets(p.actions),
            (std::vector<std::string>{"/app/staging/old", "app/staging/old/KEY"}));
  EXPECT_EQ(p.actions[0].kind, ActionKind::kAppDelete);
  EXPECT_EQ(p.actions[0].reason, Reason::kOrphan);
  EXPECT_EQ(p.actions[1].kind, ActionKind::kKvDelete);
  EXPECT_EQ(p.actions[1].depends_on, std::vector<std::string>{"app:/app/staging/old"});
  ASSERT_EQ(Targets(p.unmanaged),
            (std::vector<std::string>{"/app/production/old", "app/production/old/KEY"}));
  EXPECT_EQ(p.unmanaged[0].why,
            "carries galley's label but is not declared (orphan); prune is off");
  EXPECT_EQ(
      p.unmanaged[1].why,
      "removed from Git (service old is no longer declared); galley applied it; prune is off");

  // Apps only: staging's keys stay.
  in_.policies.environments["staging"].all.prune.reset();
  in_.policies.environments["staging"].marathon_app.prune = true;
  p = MakePlan(in_);
  EXPECT_EQ(Targets(p.actions), std::vector<std::string>{"/app/staging/old"});
  EXPECT_EQ(Targets(p.unmanaged),
            (std::vector<std::string>{"/app/production/old", "app/production/old/KEY",
                                      "app/staging/old/KEY"}));
}

TEST_F(PlannerPolicyTest, AnOrphanOfADeclaredServiceFollowsThatServicesPolicy) {
  // web is declared but not deployed to staging any more: its app there is an orphan, and
  // a foreign key sits under its production prefix.
  OrphanApp("/app/staging/web");
  OrphanKv("app/production/web/FOREIGN");
  OrphanApp("/app/staging/gone");  // a service nobody declares any more
  in_.policies.platform.all.prune = false;
  in_.policies.services["web"].all.prune = true;
  in_.policies.services["gone"].all.prune = true;  // not declared: never consulted
  Plan p = MakePlan(in_);
  EXPECT_EQ(Targets(p.actions),
            (std::vector<std::string>{"/app/staging/web", "app/production/web/FOREIGN"}));
  EXPECT_EQ(Targets(p.unmanaged), std::vector<std::string>{"/app/staging/gone"});

  // The service+environment level beats the service: web keeps its production keys.
  in_.policies.service_environments[{"web", "production"}].consul_kv.prune = false;
  p = MakePlan(in_);
  EXPECT_EQ(Targets(p.actions), std::vector<std::string>{"/app/staging/web"});
  EXPECT_EQ(Targets(p.unmanaged),
            (std::vector<std::string>{"/app/staging/gone", "app/production/web/FOREIGN"}));
}

TEST_F(PlannerPolicyTest, APlatformWideKeyFollowsOnlyThePlatformPolicy) {
  in_.kv.push_back(
      DesiredKv{"", "", "service/haproxy/maxconn", std::string("4096"), false, "", false});
  in_.applied_kv["service/haproxy/maxconn"] = HmacSha256Hex("k", "4096");
  in_.live.kv["service/haproxy/maxconn"] =
      model::LiveKvEntry{"service/haproxy/maxconn", "100", 3, 0, ""};
  in_.policies.environments["production"].all.drift = kIgnore;  // not the key's environment
  in_.policies.platform.consul_kv.drift = kReport;
  Plan p = MakePlan(in_);
  EXPECT_TRUE(p.actions.empty());
  EXPECT_EQ(Targets(p.drift_reported), std::vector<std::string>{"service/haproxy/maxconn"});

  // Undeclared, it is an orphan: pruned by the platform's consul_kv prune.
  in_.kv.clear();
  in_.policies.environments["production"].all.prune = true;
  p = MakePlan(in_);
  EXPECT_TRUE(p.actions.empty());
  EXPECT_EQ(Targets(p.unmanaged), std::vector<std::string>{"service/haproxy/maxconn"});
  in_.policies.platform.consul_kv.prune = true;
  p = MakePlan(in_);
  EXPECT_EQ(Targets(p.actions), std::vector<std::string>{"service/haproxy/maxconn"});
}

TEST_F(PlannerPolicyTest, PausedStillWinsOverPrune) {
  OrphanApp("/app/staging/old");
  in_.paused_environments = {"staging"};
  in_.policies.platform.all.prune = true;
  Plan p = MakePlan(in_);
  EXPECT_TRUE(p.actions.empty());
  EXPECT_EQ(Targets(p.skipped), std::vector<std::string>{"/app/staging/old"});
}

}  // namespace
}  // namespace galley::engine
