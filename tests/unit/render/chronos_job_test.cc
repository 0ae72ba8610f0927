// SPDX-License-Identifier: Apache-2.0
// render/chronos_job: the reference example's jobs against golden files
// (tests/golden/chronos/, UPDATE_GOLDEN=1 rewrites them), dependent jobs, overrides, hooks
// and quoting.
#include "render/chronos_job.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "spec/loader.h"
#include "support/temp_repo.h"

namespace galley::render {
namespace {

using testing::kMinimalPlatform;
using testing::kMinimalService;
using testing::TempRepo;

TEST(ChronosJobRender, ReferenceExampleMatchesGoldenFiles) {
  spec::LoadResult r = spec::LoadRepository(testing::SourceRoot() + "/examples/reference");
  ASSERT_FALSE(r.diags.HasErrors()) << r.diags.RenderAll();
  const std::string dir = testing::SourceRoot() + "/tests/golden/chronos/";
  int compared = 0;
  for (const auto& s : r.state.services) {
    for (const auto& job : s.jobs) {
      for (const auto& env : s.environments) {
        if (!job.environments.count(env.name)) continue;
        std::string body = RenderChronosJob(r.state.platform, s, env, job).dump(2) + "\n";
        std::string path = dir + model::ChronosJobName(env.name, s.name, job.name) + ".json";
        if (std::getenv("UPDATE_GOLDEN")) {
          std::filesystem::create_directories(dir);
          std::ofstream(path) << body;
        }
        EXPECT_EQ(body, testing::ReadText(path)) << path;
        ++compared;
      }
    }
  }
  EXPECT_EQ(compared, 4);  // report and migrate, in production and staging
}

spec::LoadResult Load(const std::string& jobs) {
  static TempRepo* t = nullptr;
  delete t;
  t = new TempRepo();
  t->Write("galley.yaml", kMinimalPlatform);
  t->Write("services/web.yaml", std::string(kMinimalService) + "jobs:\n" + jobs);
  return spec::LoadRepository(t->dir());
}

TEST(ChronosJobRender, DependentScheduledAndHookBodies) {
  auto r = Load(
      R"(  a: {command: [x], schedule: R/2026-01-01T00:00:00Z/PT1H, time_zone: UTC, epsilon: PT30S}
  b:
    command: [sh, -c, "echo it's done"]
    parents: [a]
    config: false
    env: {MODE: fast}
    image: tools/web-tools
    environments:
      production: {resources: {mem: 32}, retries: 0}
  m: {hook: post-deploy, image: "tools/check:v9"}
)");
  ASSERT_FALSE(r.diags.HasErrors()) << r.diags.RenderAll();
  const auto& s = r.state.services[0];
  const auto& prod = s.environments[0];
  auto a = RenderChronosJob(r.state.platform, s, prod, s.jobs[0]);
  EXPECT_EQ(a["name"], "production-web-a");
  EXPECT_EQ(a["schedule"], "R/2026-01-01T00:00:00Z/PT1H");
  EXPECT_EQ(a["scheduleTimeZone"], "UTC");
  EXPECT_EQ(a["epsilon"], "PT30S");
  EXPECT_FALSE(a.contains("parents"));
  EXPECT_EQ(a["retries"], 2);
  EXPECT_EQ(a["description"], "managed-by: galley; platform=test");
  auto b = RenderChronosJob(r.state.platform, s, prod, s.jobs[1]);
  EXPECT_EQ(b["parents"].dump(), R"(["production-web-a"])");
  EXPECT_FALSE(b.contains("schedule"));
  EXPECT_EQ(b["command"], R"(sh -c 'echo it'\''s done')");  // no wrapper: config: false
  EXPECT_EQ(b["mem"], 32);
  EXPECT_EQ(b["cpus"], 0.1);
  EXPECT_EQ(b["retries"], 0);
  EXPECT_EQ(b["container"]["image"], "registry.local/tools/web-tools:v1");
  EXPECT_EQ(b["environmentVariables"].dump(),
            R"([{"name":"GALLEY_JOB","value":"b"},{"name":"MODE","value":"fast"},)"
            R"({"name":"SERVICE_NAME","value":"web"}])");
  auto m = RenderChronosJob(r.state.platform, s, s.environments[1], s.jobs[2]);
  EXPECT_EQ(m["name"], "staging-web-m");
  EXPECT_EQ(m["schedule"], kHookSchedule);
  EXPECT_EQ(m["container"]["image"], "registry.local/tools/check:v9");
  // The wrapper and the KV prefix come first, then the service's command (the job has none).
  EXPECT_EQ(m["command"],
            "service-wrapper.sh dockerhost:18080 dockerhost:18500 app/staging/web ./web");
  // Deterministic.
  EXPECT_EQ(RenderChronosJob(r.state.platform, s, prod, s.jobs[1]).dump(), b.dump());
}

TEST(ChronosJobRender, NamesAndQuoting) {
  EXPECT_EQ(ChronosParentName("production", "web", "a"), "production-web-a");
  EXPECT_EQ(ChronosParentName("production", "web", "api/a"), "production-api-a");
  EXPECT_EQ(ShellQuote("dockerhost:18080"), "dockerhost:18080");
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("$(rm -rf /)"), "'$(rm -rf /)'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
}

}  // namespace
}  // namespace galley::render
