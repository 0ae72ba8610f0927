// SPDX-License-Identifier: Apache-2.0
// Pure parts of the Marathon emulator: ids, normalisation, rolling bounds, task specs.
#include <gtest/gtest.h>

#include "sandbox/marathon/app_normalise.h"
#include "sandbox/marathon/deployment.h"
#include "sandbox/marathon/path_id.h"
#include "sandbox/marathon/port_allocator.h"
#include "sandbox/marathon/task_record.h"

namespace galley::sandbox::marathon {
namespace {

// Real tasks listen on their host ports: ports the machine already uses are skipped.
TEST(HostPortAllocatorTest, SkipsPortsTheProbeSaysAreTaken) {
  HostPortAllocator ports(31000, 31005);
  ports.set_probe([](int p) { return p != 31000 && p != 31002; });
  std::vector<int> got;
  ASSERT_TRUE(ports.Allocate(3, false, &got));
  EXPECT_EQ(got, (std::vector<int>{31001, 31003, 31004}));
  ASSERT_FALSE(ports.Allocate(2, false, &got));  // only 31005 left
}

// galley-sandbox's --local-port-min/--local-port-max: Marathon's [min, max), both in 1..65535.
TEST(ServicePortRangeTest, ValidatesTheFlags) {
  EXPECT_EQ(ServicePortRangeError(10000, 20000), "");
  EXPECT_EQ(ServicePortRangeError(1, 65535), "");
  EXPECT_EQ(ServicePortRangeError(20000, 20000),
            "--local-port-min (20000) must be below --local-port-max (20000)");
  EXPECT_NE(ServicePortRangeError(30000, 20000).find("must be below"), std::string::npos);
  EXPECT_NE(ServicePortRangeError(0, 100).find("1..65535"), std::string::npos);
  EXPECT_NE(ServicePortRangeError(10000, 65536).find("1..65535"), std::string::npos);
  EXPECT_NE(ServicePortRangeError(-5, 100).find("1..65535"), std::string::npos);
}

// The range's last port is excluded, as Marathon's Range(min, max).
TEST(ServicePortRangeTest, AllocatorStopsBeforeMax) {
  ServicePortAllocator ports(100, 101);  // the emulator passes max - 1
  Json app = {{"portDefinitions", Json::array({{{"port", 0}}, {{"port", 0}}})}};
  std::set<int> picked;
  ASSERT_TRUE(ports.Assign(app, nullptr, &picked));
  ports.Commit({}, {100, 101});
  Json more = {{"portDefinitions", Json::array({{{"port", 0}}})}};
  std::set<int> picked2;
  EXPECT_FALSE(ports.Assign(more, nullptr, &picked2));
  EXPECT_EQ(ServicePortsExhausted(100, 102), "All ports in the range 100-102 are already in use");
}

TEST(PathIdTest, CanonicalisesAndValidates) {
  EXPECT_EQ(CanonicalId("foo"), "/foo");
  EXPECT_EQ(CanonicalId("/a//b/"), "/a/b");
  EXPECT_EQ(CanonicalId("../x", "/a/b"), "/a/x");
  EXPECT_EQ(CanonicalId("./x", "/a"), "/a/x");
  EXPECT_TRUE(ValidateAppId("/a/b-c.d", "/a/b-c.d").empty());
  EXPECT_FALSE(ValidateAppId("/Foo", "/Foo").empty());
  EXPECT_FALSE(ValidateAppId("/a_b", "/a_b").empty());
  EXPECT_FALSE(ValidateAppId("/-a", "/-a").empty());
  EXPECT_FALSE(ValidateAppId("/a/tasks", "/a/tasks").empty());
  EXPECT_FALSE(ValidateAppId("/", "/").empty());
  EXPECT_EQ(SafePath("/app/production/x"), "app_production_x");
  EXPECT_EQ(TaskIdSafePath("app_x.instance-6b3a-11._app.1").value_or(""), "app_x");
  EXPECT_EQ(TaskIdSafePath("frontend.083be411-5d1f").value_or(""), "frontend");
  EXPECT_FALSE(TaskIdSafePath("nodots").has_value());
}

TEST(RollingBoundsTest, MatchesTaskReplaceActor) {
  auto b = ComputeRollingBounds(3, 0.7, 0.0);
  EXPECT_EQ(b.min_healthy, 3);  // ⌈3 × 0.7⌉ (docs/deployments.md)
  EXPECT_EQ(b.max_capacity, 3);
  b = ComputeRollingBounds(4, 0.5, 0.5);
  EXPECT_EQ(b.min_healthy, 2);
  EXPECT_EQ(b.max_capacity, 6);
  b = ComputeRollingBounds(2, 1.0, 1.0);
  EXPECT_EQ(b.min_healthy, 2);
  EXPECT_EQ(b.max_capacity, 4);
}

TEST(PlanStepsTest, OrdersByDependencies) {
  std::vector<AppChange> changes = {{"/test/sleep60", AppChange::kCreate, {"/test/sleep120"}},
                                    {"/test/sleep120", AppChange::kCreate, {}}};
  auto steps = PlanSteps(changes);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].size(), 2u);
  EXPECT_EQ(steps[0][0].action, "StartApplication");
  EXPECT_EQ(steps[1][0].app, "/test/sleep120");
  EXPECT_EQ(steps[2][0].app, "/test/sleep60");
  EXPECT_EQ(steps[2][0].action, "ScaleApplication");
  EXPECT_TRUE(PlanSteps({}).empty());
}

TEST(NormaliseTest, IsIdempotent) {
  Json in = Json::parse(
      R"({"cmd":"x","healthChecks":[{"path":"/h"}],"container":{"docker":{"image":"i"}}})");
  auto r = NormaliseApp(in, "/x");
  ASSERT_TRUE(std::holds_alternative<Json>(r));
  Json once = std::get<Json>(r);
  auto again = NormaliseApp(once, "/x");
  ASSERT_TRUE(std::holds_alternative<Json>(again));
  EXPECT_EQ(std::get<Json>(again), once);
  EXPECT_FALSE(IsConfigChange(once, std::get<Json>(again)));
  EXPECT_EQ(once["healthChecks"][0]["portIndex"], 0);
  EXPECT_EQ(once["healthChecks"][0]["delaySeconds"], 15);
  EXPECT_EQ(once["container"]["docker"]["forcePullImage"], false);
  EXPECT_EQ(once["container"]["volumes"], Json::array());
}

TEST(TaskSpecTest, BridgeEnvironmentUsesHostPorts) {
  Json in = Json::parse(
      R"({"container":{"type":"DOCKER","docker":{"image":"registry.local/t:1","network":"BRIDGE",
      "portMappings":[{"containerPort":3000,"name":"http"}]}},"labels":{"environment":"production"},
      "env":{"SERVICE_NAME":"t"},"args":["a"],"taskKillGracePeriodSeconds":30,
      "healthChecks":[{"path":"/healthcheck","intervalSeconds":10,"maxConsecutiveFailures":3}]})");
  Problems p;
  TranslateDeprecated(in, &p);
  ASSERT_TRUE(p.empty());
  auto r = NormaliseApp(in, "/app/production/t");
  ASSERT_TRUE(std::holds_alternative<Json>(r));
  Json app = std::get<Json>(r);
  app["version"] = "2020-01-01T00:00:00.000Z";
  TaskRecord t;
  t.id = "app_production_t.instance-u._app.1";
  t.app_id = "/app/production/t";
  t.version = app["version"];
  t.host = "127.0.0.1";
  t.host_ports = {31005};
  TaskSpec spec = BuildTaskSpec(app, t);
  EXPECT_EQ(spec.env["PORT0"], "31005");
  EXPECT_EQ(spec.env["PORT"], "31005");
  EXPECT_EQ(spec.env["PORTS"], "31005");
  EXPECT_EQ(spec.env["PORT_3000"], "31005");
  EXPECT_EQ(spec.env["PORT_HTTP"], "31005");
  EXPECT_EQ(spec.env["HOST"], "127.0.0.1");
  EXPECT_EQ(spec.env["MARATHON_APP_ID"], "/app/production/t");
  EXPECT_EQ(spec.env["MARATHON_APP_VERSION"], "2020-01-01T00:00:00.000Z");
  EXPECT_EQ(spec.env["MARATHON_APP_DOCKER_IMAGE"], "registry.local/t:1");
  EXPECT_EQ(spec.env["MESOS_TASK_ID"], t.id);
  EXPECT_EQ(spec.env["MARATHON_APP_LABELS"], "ENVIRONMENT");
  EXPECT_EQ(spec.env["MARATHON_APP_LABEL_ENVIRONMENT"], "production");
  EXPECT_EQ(spec.env["SERVICE_NAME"], "t");
  EXPECT_EQ(spec.docker_image, "registry.local/t:1");
  EXPECT_EQ(spec.args, std::vector<std::string>{"a"});
  EXPECT_EQ(spec.kill_grace_seconds, 30);
  ASSERT_EQ(spec.health_checks.size(), 1u);
  EXPECT_EQ(spec.health_checks[0].path, "/healthcheck");
  EXPECT_EQ(spec.health_checks[0].interval_seconds, 10);
}

}  // namespace
}  // namespace galley::sandbox::marathon
