// SPDX-License-Identifier: Apache-2.0
// Chronos jobs on the planning side (issue #16): NormalizeJob makes a rendered body and what
// Chronos gives back for it (the emulator's deserializer/serializer, the reference samples,
// a schedule Chronos rewrote after a run) compare equal, and still sees real changes; the
// job digest and action ids; jobs in the applied record (store rows and Consul document).
#include "engine/jobs.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/file_io.h"
#include "engine/applied_record.h"
#include "engine/plan.h"
#include "render/chronos_job.h"
#include "sandbox/chronos/job.h"
#include "spec/loader.h"
#include "support/temp_repo.h"

namespace galley::engine {
namespace {

using json = nlohmann::json;

json Sample(const std::string& name) {
  auto text = ReadFileBounded(
      galley::testing::SourceRoot() + "/tests/sandbox/chronos/samples/" + name, 1 << 20);
  EXPECT_TRUE(text.ok()) << name;
  return text.ok() ? json::parse(*text) : json();
}

// What the emulator stores and returns for a POSTed body (Chronos' deserializer, then its
// serializer's fields), as plain JSON.
json ThroughEmulator(const json& body) {
  sandbox::chronos::DeserializeError error;
  auto stored = sandbox::chronos::ReadJob(body, {}, "2026-12-08T00:00:00.000Z", &error);
  EXPECT_TRUE(stored.has_value()) << error.message;
  return stored ? json::parse(stored->dump()) : json();
}

TEST(NormalizeJob, ReferenceSamplesRoundTrip) {
  json sent = Sample("scheduled-job-request.json");
  json got = Sample("scheduled-job-get-v3.json");
  json after_run = Sample("scheduled-job-get-v3-after-run.json");
  EXPECT_EQ(NormalizeJob(sent), NormalizeJob(got));
  // Chronos moved the start one period on and counted the run: not a change.
  EXPECT_NE(got["schedule"], after_run["schedule"]);
  EXPECT_EQ(NormalizeJob(got), NormalizeJob(after_run));
  EXPECT_EQ(JobDigest(sent), JobDigest(after_run));

  json dep_sent = Sample("dependent-job-request.json");
  json dep_got = Sample("dependent-job-get-v3.json");
  EXPECT_EQ(NormalizeJob(dep_sent), NormalizeJob(dep_got));
  EXPECT_EQ(NormalizeJob(dep_sent), NormalizeJob(ThroughEmulator(dep_sent)));
  EXPECT_EQ(NormalizeJob(sent), NormalizeJob(ThroughEmulator(sent)));
}

TEST(NormalizeJob, OnlyRequestFieldsWithDefaultsFilled) {
  json n = NormalizeJob(Sample("scheduled-job-get-v3-after-run.json"));
  for (const char* k : {"successCount", "errorCount", "errorsSinceLastSuccess", "lastSuccess",
                        "lastError", "uris", "epsilon"}) {
    EXPECT_FALSE(n.contains(k)) << k;
  }
  json minimal = NormalizeJob(json{{"name", "j"}, {"schedule", "R/2026-01-01T00:00:00Z/P1D"}});
  EXPECT_EQ(minimal["shell"], true);
  EXPECT_EQ(minimal["retries"], 2);
  EXPECT_EQ(minimal["runAsUser"], "root");
  EXPECT_EQ(minimal["cpus"], 0.1);
  EXPECT_EQ(minimal["mem"], 128.0);
  EXPECT_EQ(minimal["disk"], 256.0);
  EXPECT_EQ(minimal["command"], "");
  EXPECT_EQ(minimal["disabled"], false);
  EXPECT_EQ(minimal["environmentVariables"], json::array());
  EXPECT_FALSE(minimal.contains("container"));
  EXPECT_FALSE(minimal.contains("parents"));
  // Numbers as Chronos writes them back compare equal to integers sent.
  EXPECT_EQ(NormalizeJob(json{{"name", "j"}, {"mem", 64}, {"cpus", 0}}),
            NormalizeJob(json{{"name", "j"}, {"mem", 64.0}, {"cpus", 0.1}}));
  EXPECT_EQ(NormalizeJob(json::array()), json::object());
}

TEST(NormalizeJob, SetsAndListsCompareAsChronosKeepsThem) {
  json a = {
      {"name", "c"},
      {"parents", {"b", "a", "b"}},
      {"schedule", "R/2026-01-01T00:00:00Z/P1D"},
      {"environmentVariables", {{{"name", "Z"}, {"value", "1"}}, {{"name", "A"}, {"value", "2"}}}},
      {"constraints", {{"rack", "EQUALS", "r1"}, {"rack", "GROUP_BY", "x"}}},
      {"uris", {"http://x/a.tgz"}}};
  json n = NormalizeJob(a);
  EXPECT_EQ(n["parents"], json::array({"a", "b"}));
  EXPECT_FALSE(n.contains("schedule"));  // parents win, as in Chronos
  EXPECT_EQ(n["environmentVariables"][0]["name"], "A");
  EXPECT_EQ(n["constraints"], json::array({json::array({"rack", "EQUALS", "r1"})}));
  EXPECT_EQ(n["fetch"][0]["uri"], "http://x/a.tgz");
  // GET /jobs mirrors uris into fetch: the same job either way.
  json b = a;
  b.erase("uris");
  b["fetch"] = {{{"uri", "http://x/a.tgz"}}};
  EXPECT_EQ(NormalizeJob(a), NormalizeJob(b));
  // The container as Chronos fills it in.
  json c = NormalizeJob(json{{"name", "j"}, {"container", {{"image", "x:1"}, {"type", "docker"}}}});
  EXPECT_EQ(c["container"], (json{{"type", "DOCKER"},
                                  {"image", "x:1"},
                                  {"network", "HOST"},
                                  {"networkInfos", json::array()},
                                  {"volumes", json::array()},
                                  {"forcePullImage", false},
                                  {"parameters", json::array()}}));
  EXPECT_FALSE(NormalizeJob(json{{"name", "j"}, {"container", {{"type", "DOCKER"}}}})
                   .contains("container"));  // no image: Chronos 3.x ignores it
}

TEST(NormalizeJob, RealChangesStillDiffer) {
  json base = Sample("scheduled-job-request.json");
  auto changed = [&](const char* key, const json& value) {
    json b = base;
    b[key] = value;
    return NormalizeJob(b) != NormalizeJob(base);
  };
  EXPECT_TRUE(changed("command", "node /app/other.js"));
  EXPECT_TRUE(changed("disabled", true));  // disabled by hand is drift
  EXPECT_TRUE(changed("retries", 3));
  EXPECT_TRUE(changed("mem", 65));
  EXPECT_TRUE(changed("schedule", "R/2017-03-02T04:00:00.000+01:00/P1D"));  // another hour
  EXPECT_TRUE(changed("schedule", "R/2017-03-02T03:00:00.000+01:00/PT12H"));
  EXPECT_TRUE(changed("scheduleTimeZone", "UTC"));
  EXPECT_TRUE(changed("description", "hand-made"));
  EXPECT_NE(JobDigest(base), JobDigest(json{{"name", "other"}}));
}

TEST(NormalizeJob, Schedules) {
  // Infinite: the occurrence grid, whatever start on it.
  EXPECT_EQ(NormalizeJobSchedule("R/2026-03-02T03:00:00Z/P1D"),
            NormalizeJobSchedule("R/2017-01-01T03:00:00.000Z/P1D"));
  EXPECT_EQ(NormalizeJobSchedule("R/2026-03-02T03:00:00Z/P1D"), "R/1970-01-01T03:00:00.000Z/P1D");
  EXPECT_NE(NormalizeJobSchedule("R/2026-03-02T03:00:00Z/P1D"),
            NormalizeJobSchedule("R/2026-03-02T03:30:00Z/P1D"));
  // Calendar periods: the grid point after 2100-01-01.
  EXPECT_EQ(NormalizeJobSchedule("R/2026-01-15T06:00:00Z/P1M"),
            NormalizeJobSchedule("R/2026-04-15T06:00:00Z/P1M"));
  EXPECT_NE(NormalizeJobSchedule("R/2026-01-15T06:00:00Z/P1M"),
            NormalizeJobSchedule("R/2026-01-16T06:00:00Z/P1M"));
  // Finite: Chronos counts R down as it moves the start on; the last occurrence stays.
  EXPECT_EQ(NormalizeJobSchedule("R5/2026-01-01T00:00:00Z/PT1H"),
            NormalizeJobSchedule("R3/2026-01-01T02:00:00.000Z/PT1H"));
  EXPECT_EQ(NormalizeJobSchedule("R5/2026-01-01T00:00:00Z/PT1H"),
            "R(last)/2026-01-01T04:00:00.000Z/PT1H");
  EXPECT_NE(NormalizeJobSchedule("R5/2026-01-01T00:00:00Z/PT1H"),
            NormalizeJobSchedule("R5/2026-01-01T01:00:00Z/PT1H"));
  // The hook schedule (never falls due) is stable, and garbage is kept as written.
  EXPECT_EQ(NormalizeJobSchedule(render::kHookSchedule),
            NormalizeJobSchedule(render::kHookSchedule));
  EXPECT_EQ(NormalizeJobSchedule("not a schedule"), "not a schedule");
}

TEST(NormalizeJob, EveryReferenceJobRoundTripsThroughTheEmulator) {
  spec::LoadResult r = spec::LoadRepository(testing::SourceRoot() + "/examples/reference");
  ASSERT_FALSE(r.diags.HasErrors()) << r.diags.RenderAll();
  int compared = 0;
  for (const auto& s : r.state.services) {
    for (const auto& job : s.jobs) {
      for (const auto& env : s.environments) {
        if (!job.environments.count(env.name)) continue;
        json body = json::parse(render::RenderChronosJob(r.state.platform, s, env, job).dump());
        EXPECT_EQ(NormalizeJob(body), NormalizeJob(ThroughEmulator(body))) << body.dump(2);
        EXPECT_EQ(JobDigest(body), JobDigest(ThroughEmulator(body)));
        EXPECT_FALSE(NormalizeJob(body).contains("epsilon"));
        ++compared;
      }
    }
  }
  EXPECT_GE(compared, 4);
}

TEST(JobIds, ActionIdsAndDigestForm) {
  EXPECT_EQ(JobActionId("production-web-report"), "job:production-web-report");
  EXPECT_EQ(HookActionId("production-web-migrate"), "hook:production-web-migrate");
  std::string d = JobDigest(json{{"name", "x"}});
  EXPECT_EQ(d.rfind("sha256:", 0), 0u);
  EXPECT_EQ(d.size(), 7u + 64u);
  // Key order and defaults spelled out do not matter.
  EXPECT_EQ(d, JobDigest(json{{"retries", 2}, {"name", "x"}, {"shell", true}}));
}

TEST(PlanJobs, ChronosEndpointAndObservedJobsRoundTrip) {
  Plan p;
  p.platform = "demo";
  p.created_at = "2026-12-08T01:00:00Z";
  p.marathon_urls = {"http://m:8080"};
  p.consul_url = "http://c:8500";
  json without = PlanToJson(p);
  // Without Chronos the plan keeps its shape.
  EXPECT_FALSE(without["endpoints"].contains("chronos"));
  EXPECT_FALSE(without["observed"].contains("jobs"));
  auto back = PlanFromJson(without);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->chronos_url, "");
  EXPECT_EQ(back->observed_jobs, 0);

  p.chronos_url = "http://chronos:4400";
  p.observed_jobs = 7;
  json with = PlanToJson(p);
  EXPECT_EQ(with["endpoints"]["chronos"], "http://chronos:4400");
  EXPECT_EQ(with["observed"]["jobs"], 7);
  back = PlanFromJson(with);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->chronos_url, "http://chronos:4400");
  EXPECT_EQ(back->observed_jobs, 7);
  Plan other = p;
  other.chronos_url = "http://elsewhere:4400";
  EXPECT_NE(PlanDigest(p), PlanDigest(other));  // the endpoint is part of what was planned

  // A Chronos configured but listing no jobs still says so.
  p.observed_jobs = 0;
  EXPECT_EQ(PlanToJson(p)["observed"]["jobs"], 0);
}

TEST(AppliedRecordJobs, WrittenAndReadBackFromStoreAndConsul) {
  AppliedStamp stamp{"2026-12-08T01:00:00Z", "c0ffee", "me@host", 3};
  json job = NormalizeJob(Sample("scheduled-job-request.json"));
  const std::string name = "production-test-server-report";
  std::vector<AppliedItem> items(1);
  items[0].job = true;
  items[0].target = name;
  items[0].env = "production";
  items[0].service = "test-server";
  items[0].expect = job;

  auto rows = AppliedRows(items, stamp);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].resource, "chronos-job:" + name);
  EXPECT_EQ(json::parse(rows[0].body), job);
  EXPECT_FALSE(rows[0].deleted);

  std::string text = UpdateAppliedRecord("", items, stamp);
  EXPECT_EQ(json::parse(text)["jobs"][name], job);
  auto rec = ParseAppliedRecord(text);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->jobs.at(name), job);
  EXPECT_TRUE(rec->kv.empty());
  EXPECT_FALSE(rec->app.has_value());

  // The store's row is read as a job, not a key.
  std::map<std::string, store::Applied> by_resource{{rows[0].resource, rows[0]}};
  LastAppliedView view;
  AddStoreApplied(by_resource, &view);
  EXPECT_EQ(view.jobs.at(name), job);
  EXPECT_TRUE(view.kv.empty());
  EXPECT_EQ(view.at.at("job:" + name), "2026-12-08T01:00:00Z");

  // A newer record in Consul wins over the store; an older one does not.
  json edited = job;
  edited["retries"] = 5;
  AppliedStamp later{"2026-12-08T02:00:00Z", "d00d", "ci", 4};
  items[0].expect = edited;
  std::map<std::string, model::LiveKvEntry> records;
  records["galley/p/applied/production/test-server"].value =
      UpdateAppliedRecord(text, items, later);
  EXPECT_TRUE(MergeAppliedRecords(records, &view).empty());
  EXPECT_EQ(view.jobs.at(name), edited);
  EXPECT_EQ(view.at.at("job:" + name), "2026-12-08T02:00:00Z");
  LastAppliedView newer;
  newer.jobs[name] = job;
  newer.at["job:" + name] = "2026-12-09T00:00:00Z";
  EXPECT_TRUE(MergeAppliedRecords(records, &newer).empty());
  EXPECT_EQ(newer.jobs.at(name), job);

  // A delete removes the job from the document and leaves an empty, deleted store row.
  items[0].expect = json{{"absent", true}};
  std::string gone = UpdateAppliedRecord(records.begin()->second.value, items, later);
  EXPECT_FALSE(json::parse(gone)["jobs"].contains(name));
  EXPECT_TRUE(ParseAppliedRecord(gone)->jobs.empty());
  auto deleted = AppliedRows(items, later);
  EXPECT_EQ(deleted[0].body, "");
  EXPECT_TRUE(deleted[0].deleted);
  LastAppliedView after_delete;
  AddStoreApplied({{deleted[0].resource, deleted[0]}}, &after_delete);
  EXPECT_TRUE(after_delete.jobs.empty());
}

}  // namespace
}  // namespace galley::engine
