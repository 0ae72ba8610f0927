// SPDX-License-Identifier: Apache-2.0
// galley adopt's pure half (engine/adopt) and the planner's view of an adopted app: the
// reference example deployed without galley's labels is adopted into services that render
// exactly what runs; what the schema cannot say is kept through ignore: and listed; what
// cannot be kept refuses the service; an adopted app plans no change until a real one, which
// then carries galley's labels.
#include "engine/adopt.h"

#include <gtest/gtest.h>

#include "engine/desired.h"
#include "engine/ownership.h"
#include "engine/planner.h"
#include "render/consul_kv.h"
#include "render/marathon_app.h"
#include "spec/loader.h"
#include "spec/parse.h"
#include "spec/yaml_source.h"
#include "support/temp_repo.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

// What the seed's scripts left running for `state`: rendered apps without galley's labels,
// KV with every value written out.
model::LiveState SeedDeploy(const model::DesiredState& state) {
  model::LiveState live;
  uint64_t index = 1;
  for (const auto& s : state.services) {
    for (const auto& e : s.environments) {
      json body =
          WithoutGalleyLabels(json::parse(render::RenderMarathonApp(state.platform, s, e).dump()));
      model::LiveApp a;
      a.id = body["id"];
      a.body = body;
      a.version = "2026-01-01T00:00:00.000Z";
      live.apps[a.id] = a;
      for (const auto& kv : render::RenderServiceKv(s, e)) {
        std::string v = kv.value.secret() ? "secret-value" : kv.value.text;
        live.kv[kv.key] = model::LiveKvEntry{kv.key, v, index++, 0, ""};
      }
    }
  }
  return live;
}

model::DesiredState Reference() {
  spec::LoadResult r = spec::LoadRepository(testing::SourceRoot() + "/examples/reference");
  EXPECT_FALSE(r.diags.HasErrors()) << r.diags.RenderAll();
  return r.state;
}

AdoptInput InputFor(const model::DesiredState& state, const model::LiveState& live) {
  AdoptInput in;
  in.platform = &state.platform;
  for (const auto& e : state.platform.environments) in.environments.push_back(e.name);
  in.live = &live;
  return in;
}

TEST(AdoptTest, TheReferenceSeedDeployIsAdoptedIntoFilesThatRenderWhatRuns) {
  model::DesiredState state = Reference();
  model::LiveState live = SeedDeploy(state);
  AdoptOutcome out = PlanAdoption(InputFor(state, live));
  EXPECT_TRUE(out.notes.empty());
  ASSERT_EQ(out.services.size(), 4u);
  for (const auto& a : out.services) {
    SCOPED_TRACE(a.service.name);
    EXPECT_EQ(a.refused, "");
    EXPECT_TRUE(a.kept.empty()) << a.kept.front();
    EXPECT_TRUE(a.service.ignore.empty());
    const model::Service* original = state.FindService(a.service.name);
    ASSERT_NE(original, nullptr);
    EXPECT_EQ(a.service.environments.size(), original->environments.size());
    // The written file parses as a service file and renders, per environment, what runs.
    std::string text = AdoptedServiceYaml(a, "test");
    Diagnostics diags;
    auto doc = spec::ParseYaml(a.service.name + ".yaml", text, diags);
    ASSERT_TRUE(doc);
    auto parsed = spec::ParseService(*doc, diags);
    ASSERT_TRUE(parsed && !diags.HasErrors()) << diags.RenderAll() << text;
    for (const auto& e : parsed->environments) {
      json rendered = WithoutGalleyLabels(
          json::parse(render::RenderMarathonApp(state.platform, *parsed, e).dump()));
      EXPECT_EQ(Comparable(rendered, {}),
                Comparable(live.apps.at(render::MarathonAppId(e.name, a.service.name)).body, {}))
          << e.name;
      // KV: the same keys and values as the seed wrote.
      for (const auto& kv : render::RenderServiceKv(*parsed, e)) {
        EXPECT_EQ(kv.value.text, live.kv.at(kv.key).value) << kv.key;
      }
      EXPECT_EQ(render::RenderServiceKv(*parsed, e).size(),
                render::RenderServiceKv(*original, *original->FindEnvironment(e.name)).size());
    }
  }
  // Config equal in every environment is the service's; the rest per environment.
  const auto& gw = out.services[0];
  ASSERT_EQ(gw.service.name, "api-gateway");
  EXPECT_EQ(gw.service.config.at("UPSTREAM_TIMEOUT").text, "5s");
  EXPECT_TRUE(gw.service.environments[0].config.empty());
}

TEST(AdoptTest, WhatTheSchemaCannotSayIsKeptThroughIgnoreAndListed) {
  model::DesiredState state = Reference();
  model::LiveState live = SeedDeploy(state);
  json& body = live.apps.at("/app/staging/api-gateway").body;
  body["labels"]["team"] = "edge";
  body["constraints"] = json::array({json::array({"hostname", "UNIQUE"})});
  live.kv["app/staging/api-gateway/lower_case"] = {"app/staging/api-gateway/lower_case", "x", 99, 0,
                                                   ""};
  AdoptOutcome out = PlanAdoption(InputFor(state, live));
  const AdoptedService& gw = out.services[0];
  EXPECT_EQ(gw.refused, "");
  EXPECT_EQ(gw.service.ignore, (std::vector<std::string>{"/constraints", "/labels/team"}));
  ASSERT_EQ(gw.kept.size(), 2u);
  EXPECT_NE(gw.kept[0].find("kept as it runs through ignore:"), std::string::npos);
  ASSERT_EQ(gw.keys_left.size(), 1u);
  EXPECT_NE(gw.keys_left[0].find("app/staging/api-gateway/lower_case"), std::string::npos);
  std::string text = AdoptedServiceYaml(gw, "test");
  EXPECT_NE(text.find("# - /labels/team (staging: \"edge\")"), std::string::npos) << text;
  EXPECT_NE(text.find("ignore: [\"/constraints\", \"/labels/team\"]"), std::string::npos);
}

TEST(AdoptTest, AnImageDifferingBeyondTheTagRefusesTheService) {
  model::DesiredState state = Reference();
  model::LiveState live = SeedDeploy(state);
  live.apps.at("/app/staging/report-worker").body["container"]["docker"]["image"] =
      "registry.local/platform/other-worker:v1";
  AdoptOutcome out = PlanAdoption(InputFor(state, live));
  const AdoptedService& rw = out.services[1];
  ASSERT_EQ(rw.service.name, "report-worker");
  EXPECT_NE(rw.refused.find("app /app/staging/report-worker: /container/docker/image differs"),
            std::string::npos)
      << rw.refused;
}

TEST(AdoptTest, GalleysOwnAppsAndDeclaredServicesAreLeftAlone) {
  model::DesiredState state = Reference();
  model::LiveState live = SeedDeploy(state);
  live.apps.at("/app/production/api-gateway").body["labels"]["galley.platform"] = "reference";
  live.apps["/app/production/a/b"] =
      model::LiveApp{"/app/production/a/b", json{{"id", "/app/production/a/b"}}};
  AdoptInput in = InputFor(state, live);
  in.owned_apps = {"/app/staging/api-gateway"};
  in.declared_services = {"test-server"};
  AdoptOutcome out = PlanAdoption(in);
  ASSERT_EQ(out.services.size(), 2u);  // report-worker, session-cache
  EXPECT_EQ(out.services[0].service.name, "report-worker");
  ASSERT_EQ(out.notes.size(), 3u);
  EXPECT_NE(out.notes[0].find("/app/production/a/b: not of the form"), std::string::npos);
  EXPECT_NE(out.notes[1].find("service test-server is declared in the repository already"),
            std::string::npos);
}

// The planner: an adopted app (applied record with galley's labels, none live) is unchanged
// until Git changes; the change then sends galley's labels.
TEST(AdoptTest, AnAdoptedAppPlansNoChangeUntilARealOne) {
  json desired = {
      {"id", "/app/production/web"},
      {"instances", 2},
      {"cpus", 0.1},
      {"mem", 64.0},
      {"labels", {{"version", "v1"}, {"galley.platform", "p"}, {"galley.config-digest", "d1"}}},
      {"container", {{"type", "DOCKER"}, {"docker", {{"image", "r/web:v1"}}}}}};
  PlanInput in;
  in.platform = "p";
  in.environments = {"production"};
  in.app_prefixes = {"/app/production/"};
  in.kv_prefixes = {"app/production/"};
  in.declared_services = {"web"};
  in.hmac_key = "k";
  in.apps.push_back(DesiredApp{"web", "production", "/app/production/web", desired, {}, false});
  model::LiveApp live;
  live.id = "/app/production/web";
  live.body = WithoutGalleyLabels(desired);
  live.version = "v-live";
  in.live.apps[live.id] = live;
  in.applied_apps[live.id] = desired;  // what adopt records
  Plan p = MakePlan(in);
  EXPECT_TRUE(p.errors.empty());
  EXPECT_TRUE(p.actions.empty());
  // Git moves the tag: one update, whose body carries the labels.
  in.apps[0].body["labels"]["version"] = "v2";
  in.apps[0].body["container"]["docker"]["image"] = "r/web:v2";
  p = MakePlan(in);
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, ActionKind::kAppUpdate);
  EXPECT_EQ(p.actions[0].desired["labels"]["galley.platform"], "p");
  // A hand change to the adopted app is drift, as for any app galley owns.
  in.apps[0].body = desired;
  in.live.apps[live.id].body["instances"] = 5;
  p = MakePlan(in);
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].reason, Reason::kDrifted);
}

}  // namespace
}  // namespace galley::engine
