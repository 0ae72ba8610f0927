// SPDX-License-Identifier: Apache-2.0
// `jobs:` in service files (Chronos, issue #16): parsing with per-environment overrides, and
// every job error with file:line:col — bad ISO 8601, schedule with parents, unknown parents,
// cycles, name clashes across environments and services, hooks.
#include <gtest/gtest.h>

#include "spec/loader.h"
#include "spec/parse_jobs.h"
#include "support/temp_repo.h"

namespace galley::spec {
namespace {

using testing::kMinimalPlatform;
using testing::kMinimalService;
using testing::TempRepo;

std::string WithJobs(const std::string& jobs, const std::string& name = "web",
                     const std::string& port = "8080") {
  std::string s = kMinimalService;
  s.replace(s.find("name: web"), 9, "name: " + name);
  s.replace(s.find("8080"), 4, port);
  return s + "jobs:\n" + jobs;
}

// Rendered diagnostics without the temporary directory.
std::string Errors(const TempRepo& t) {
  LoadResult r = LoadRepository(t.dir());
  std::string out = r.diags.RenderAll();
  std::string prefix = t.dir() + "/";
  for (size_t p; (p = out.find(prefix)) != std::string::npos;) out.erase(p, prefix.size());
  return out;
}

std::string ErrorsFor(const std::string& jobs) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  t.Write("services/web.yaml", WithJobs(jobs));
  return Errors(t);
}

TEST(JobsTest, ParsesJobsWithOverrides) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  t.Write("services/web.yaml", WithJobs(R"(  report:
    command: [node, report.js]
    schedule: R/2026-01-01T03:00:00Z/P1D
    time_zone: Europe/Berlin
    epsilon: PT10M
    retries: 1
    owner: ops@example.com
    env: {MODE: full}
    environments:
      production: {}
      staging: {schedule: R/2026-01-01T04:00:00Z/PT12H, disabled: true, resources: {mem: 64}}
  publish:
    command: [node, publish.js]
    parents: [report]
    environments: {production: }
  migrate:
    command: [node, migrate.js]
    hook: pre-deploy
    config: false
)"));
  LoadResult r = LoadRepository(t.dir());
  ASSERT_EQ(r.diags.RenderAll(), "");
  const auto& jobs = r.state.services[0].jobs;
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].name, "migrate");          // sorted
  EXPECT_EQ(jobs[0].environments.size(), 2u);  // every environment of the service
  EXPECT_EQ(jobs[0].environments.at("staging").hook, "pre-deploy");
  EXPECT_FALSE(jobs[0].environments.at("staging").with_config);
  EXPECT_EQ(jobs[1].name, "publish");
  EXPECT_EQ(jobs[1].environments.size(), 1u);
  const auto& prod = jobs[2].environments.at("production");
  const auto& staging = jobs[2].environments.at("staging");
  EXPECT_EQ(prod.schedule, "R/2026-01-01T03:00:00Z/P1D");
  EXPECT_FALSE(prod.disabled);
  EXPECT_EQ(prod.retries, 1);
  EXPECT_EQ(prod.env.at("MODE"), "full");
  EXPECT_FALSE(prod.resources.has_value());
  EXPECT_EQ(staging.schedule, "R/2026-01-01T04:00:00Z/PT12H");
  EXPECT_TRUE(staging.disabled);
  EXPECT_EQ(staging.time_zone, "Europe/Berlin");  // inherited
  ASSERT_TRUE(staging.resources.has_value());
  EXPECT_EQ(staging.resources->mem, 64);
  EXPECT_EQ(staging.resources->cpus, 0.1);  // the service's
  EXPECT_EQ(model::ChronosJobName("production", "web", "report"), "production-web-report");
}

TEST(JobsTest, BadIso8601IsReportedAtTheValue) {
  std::string e = ErrorsFor("  r: {command: [x], schedule: R/2026-13-01T00:00:00Z/P1D}\n");
  EXPECT_NE(e.find("services/web.yaml:12:31: error: jobs.r.schedule: schedule "
                   "'R/2026-13-01T00:00:00Z/P1D' is not R[n]/start/period ('2026-13-01T00:00:00Z' "
                   "is not an ISO 8601 date-time (bad month"),
            std::string::npos)
      << e;
  e = ErrorsFor("  r: {command: [x], schedule: R/2026-01-01T00:00:00Z/1D}\n");
  EXPECT_NE(e.find("web.yaml:12:31: error: jobs.r.schedule"), std::string::npos) << e;
  EXPECT_NE(e.find("must start with P"), std::string::npos) << e;
  EXPECT_EQ(e.find("neither"), std::string::npos) << e;  // one error, not two
  e = ErrorsFor("  r: {command: [x], schedule: R/2026-01-01T00:00:00Z/P}\n");
  EXPECT_NE(e.find("zero period"), std::string::npos) << e;
  e = ErrorsFor("  r: {command: [x], schedule: R/2026-01-01T00:00:00Z/P1D, epsilon: 30M}\n");
  EXPECT_NE(e.find("web.yaml:12:68: error: jobs.r.epsilon"), std::string::npos) << e;
  e = ErrorsFor("  r: {command: [x], schedule: R/2026-01-01T00:00:00Z/PT1H, epsilon: PT2H}\n");
  EXPECT_NE(e.find("epsilon PT2H is not shorter than the period PT1H"), std::string::npos) << e;
  e = ErrorsFor("  r: {command: [x], schedule: R/2026-01-01T00:00:00Z/P1D, time_zone: PST}\n");
  EXPECT_NE(e.find("web.yaml:12:70: error: jobs.r.time_zone is 'PST'"), std::string::npos) << e;
}

TEST(JobsTest, ScheduleAndParentsTogether) {
  std::string e = ErrorsFor(R"(  a: {command: [x], schedule: R/2026-01-01T00:00:00Z/P1D}
  b: {command: [x], schedule: R/2026-01-01T00:00:00Z/P1D, parents: [a]}
)");
  EXPECT_NE(e.find("web.yaml:13:68: error: job 'b' in 'production' has both a schedule and "
                   "parents"),
            std::string::npos)
      << e;
  e = ErrorsFor("  a: {command: [x]}\n");
  EXPECT_NE(e.find("web.yaml:12:3: error: job 'a' in 'production' has neither a schedule, "
                   "parents nor a hook"),
            std::string::npos)
      << e;
  e = ErrorsFor("  a: {command: [x], hook: pre-deploy, schedule: R/2026-01-01T00:00:00Z/P1D}\n");
  EXPECT_NE(e.find("is a pre-deploy hook and also has a schedule"), std::string::npos) << e;
}

TEST(JobsTest, UnknownParentsAndSelfParents) {
  std::string e = ErrorsFor(R"(  a: {command: [x], schedule: R/2026-01-01T00:00:00Z/P1D}
  b: {command: [x], parents: [a, ghost]}
)");
  EXPECT_NE(e.find("web.yaml:13:30: error: job 'b' in 'production' names parent 'ghost'"),
            std::string::npos)
      << e;
  e = ErrorsFor("  b: {command: [x], parents: [other/a]}\n");
  EXPECT_NE(e.find("names parent 'other/a'"), std::string::npos) << e;
  EXPECT_NE(e.find("there is no service 'other'"), std::string::npos) << e;
  e = ErrorsFor("  b: {command: [x], parents: [b]}\n");
  EXPECT_NE(e.find("names itself as a parent"), std::string::npos) << e;
  // A parent that exists only in another environment.
  e = ErrorsFor(
      R"(  a: {command: [x], schedule: R/2026-01-01T00:00:00Z/P1D, environments: {staging: }}
  b: {command: [x], parents: [a]}
)");
  EXPECT_NE(e.find("job 'b' in 'production' names parent 'a'"), std::string::npos) << e;
  EXPECT_EQ(e.find("job 'b' in 'staging'"), std::string::npos) << e;
}

TEST(JobsTest, CyclesAreReported) {
  std::string e = ErrorsFor(R"(  a: {command: [x], parents: [c]}
  b: {command: [x], parents: [a]}
  c: {command: [x], parents: [b]}
)");
  EXPECT_NE(e.find("depend on each other in a cycle: web/a → web/c → web/b → web/a"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("web.yaml:13:30: error: jobs in 'production'"), std::string::npos) << e;
  EXPECT_EQ(e.find("jobs in 'staging'"), std::string::npos) << e;  // the same place: once
}

TEST(JobsTest, CrossServiceParentsAndNameClashes) {
  TempRepo t;
  t.Write("galley.yaml", kMinimalPlatform);
  // "production-web-a-b": service web, job a-b; and service web-a, job b.
  t.Write("services/web.yaml", WithJobs("  a-b: {command: [x], schedule: R//P1D}\n"));
  t.Write("services/web-a.yaml",
          WithJobs("  b: {command: [x], parents: [web/a-b]}\n", "web-a", "8081"));
  std::string e = Errors(t);
  EXPECT_NE(e.find("job 'b' of service 'web-a' in environment 'production' would be Chronos job "
                   "'production-web-a-b'"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("already taken by job 'a-b' of service 'web'"), std::string::npos) << e;
  EXPECT_EQ(e.find("names parent"), std::string::npos) << e;  // web/a-b resolves
}

TEST(JobsTest, ShapeErrors) {
  std::string e = ErrorsFor("  Bad_Name: {command: [x], schedule: R//P1D}\n");
  EXPECT_NE(e.find("web.yaml:12:3: error: job name 'Bad_Name' in jobs"), std::string::npos) << e;
  e = ErrorsFor("  a: {command: [x], schedule: R//P1D, retries: 1000}\n");
  EXPECT_NE(e.find("jobs.a.retries"), std::string::npos) << e;
  e = ErrorsFor("  a: {command: [x], schedule: R//P1D, environments: {qa: {}}}\n");
  EXPECT_NE(e.find("names environment 'qa'"), std::string::npos) << e;
  e = ErrorsFor("  a: {command: [x], schedule: R//P1D, hook: pre-deploy-ish}\n");
  EXPECT_NE(e.find("jobs.a.hook"), std::string::npos) << e;
  e = ErrorsFor("  a: {command: [x], schedule: R//P1D, colour: red}\n");
  EXPECT_NE(e.find("colour"), std::string::npos) << e;
  e = ErrorsFor(R"(  m1: {command: [x], hook: pre-deploy}
  m2: {command: [x], hook: pre-deploy}
)");
  EXPECT_NE(e.find("job 'm2' is a second pre-deploy hook of service 'web'"), std::string::npos)
      << e;
  EXPECT_TRUE(IsJobName("report-2"));
  EXPECT_FALSE(IsJobName("-x"));
  EXPECT_FALSE(IsJobName("a.b"));
}

}  // namespace
}  // namespace galley::spec
