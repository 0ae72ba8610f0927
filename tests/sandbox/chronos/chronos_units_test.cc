// SPDX-License-Identifier: Apache-2.0
// The Chronos emulator's pure parts: ISO 8601 schedules (base/iso8601_schedule), reading a
// job body the way Chronos' deserializer does, and ChronosCore's scheduling decisions driven
// by explicit times (a fake clock: no threads, no sockets).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/iso8601_schedule.h"
#include "sandbox/chronos/core.h"
#include "sandbox/chronos/job.h"
#include "sandbox/chronos/job_runner.h"

namespace galley::sandbox::chronos {
namespace {

using Json = nlohmann::json;
namespace iso = galley::iso8601;

int64_t At(const char* text) {
  int off = 0;
  auto r = iso::ParseStart(text, &off);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().message();
  return r.ok() ? *r : 0;
}

// ---- ISO 8601 ----

TEST(Iso8601, ParsesPeriods) {
  auto p = iso::ParsePeriod("P1Y2M3W4DT5H6M7.5S");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->years, 1);
  EXPECT_EQ(p->months, 2);
  EXPECT_EQ(p->weeks, 3);
  EXPECT_EQ(p->days, 4);
  EXPECT_EQ(p->hours, 5);
  EXPECT_EQ(p->minutes, 6);
  EXPECT_EQ(p->millis, 7500);
  EXPECT_EQ(iso::FormatPeriod(*p), "P1Y2M3W4DT5H6M7.5S");
  EXPECT_TRUE(iso::ParsePeriod("P")->IsZero());  // Joda: a zero period
  EXPECT_EQ(iso::ParsePeriod("PT30M")->minutes, 30);
  EXPECT_EQ(iso::FormatPeriod(*iso::ParsePeriod("PT60S")), "PT60S");
}

TEST(Iso8601, RefusesBadPeriods) {
  for (const char* bad :
       {"", "1D", "P1", "PD", "P1H", "PT1D", "P1D1Y", "PT", "P1.5D", "PT1HT1M", "P1DT1H1H", "Px"}) {
    auto p = iso::ParsePeriod(bad);
    EXPECT_FALSE(p.ok()) << bad;
  }
  EXPECT_NE(iso::ParsePeriod("P1H").status().message().find("before T"), std::string::npos);
}

TEST(Iso8601, ParsesStartsLikeJoda) {
  int off = 99;
  EXPECT_EQ(*iso::ParseStart("1970-01-01T00:00:00Z", &off), 0);
  EXPECT_EQ(off, 0);
  EXPECT_EQ(*iso::ParseStart("1970-01-01T01:00:00+01:00", &off), 0);
  EXPECT_EQ(off, 60);
  EXPECT_EQ(*iso::ParseStart("1970-01-02", &off), 86'400'000);
  EXPECT_EQ(*iso::ParseStart("T05:50Z", &off), (5 * 60 + 50) * 60'000);  // 1970-01-01
  EXPECT_EQ(*iso::ParseStart("2017-03-02T03:00:00.250-0530", &off) % 1000, 250);
  EXPECT_EQ(off, -330);
  for (const char* bad : {"2017-13-01T00:00:00Z", "2017-02-29", "2017-03-02T24:00:00Z",
                          "2017-03-02T03:00:00+25:00", "17-03-02", "2017-03-02T03", "now"}) {
    EXPECT_FALSE(iso::ParseStart(bad, &off).ok()) << bad;
  }
}

TEST(Iso8601, ParsesAndFormatsSchedules) {
  auto s = iso::ParseSchedule("R5/2017-03-02T03:00:00+01:00/P1D");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s->repeats, 5);
  EXPECT_EQ(s->offset_minutes, 60);
  EXPECT_EQ(iso::FormatSchedule(*s), "R5/2017-03-02T03:00:00.000+01:00/P1D");
  auto forever = iso::ParseSchedule("R//PT24H");
  ASSERT_TRUE(forever.ok());
  EXPECT_FALSE(forever->repeats.has_value());
  EXPECT_TRUE(forever->start_empty);
  for (const char* bad : {"", "2017-03-02T03:00:00Z/P1D", "R/2017-03-02T03:00:00Z", "Rx/2017/P1D",
                          "R/2017-13-02T03:00:00Z/P1D", "R/2017-03-02T03:00:00Z/1D"}) {
    EXPECT_FALSE(iso::ParseSchedule(bad).ok()) << bad;
  }
}

TEST(Iso8601, NextOccurrenceWithCalendarArithmetic) {
  auto s = *iso::ParseSchedule("R/2017-01-31T00:00:00Z/P1M");
  auto n = iso::NextAfter(s, At("2017-02-01T00:00:00Z"));
  ASSERT_TRUE(n);
  EXPECT_EQ(iso::FormatInstant(n->at_ms, 0), "2017-02-28T00:00:00.000Z");  // month end clamps
  EXPECT_EQ(n->skipped, 1);
  auto daily = *iso::ParseSchedule("R/2017-03-02T03:00:00+01:00/P1D");
  auto d = iso::NextAfter(daily, At("2026-12-07T22:00:00Z"));
  ASSERT_TRUE(d);
  EXPECT_EQ(iso::FormatInstant(d->at_ms, 60), "2026-12-08T03:00:00.000+01:00");
  // A start in the future is the next occurrence itself.
  auto future = iso::NextAfter(daily, At("2017-03-01T00:00:00Z"));
  EXPECT_EQ(future->at_ms, daily.start_ms);
  EXPECT_EQ(future->skipped, 0);
  EXPECT_FALSE(iso::NextAfter(*iso::ParseSchedule("R/2017-03-02T03:00:00Z/P"), 0));
}

TEST(Iso8601, TimeZonesKeepWallClockFields) {
  auto s = *iso::ParseSchedule("R/2017-03-02T13:00:00-04:00/P1D");
  iso::RetainFieldsInZone(&s, *iso::ZoneOffsetMinutes("GMT-08:00"));
  EXPECT_EQ(iso::FormatSchedule(s), "R/2017-03-02T13:00:00.000-08:00/P1D");
  EXPECT_EQ(*iso::ZoneOffsetMinutes("UTC"), 0);
  EXPECT_EQ(*iso::ZoneOffsetMinutes("+05:30"), 330);
  EXPECT_FALSE(iso::ZoneOffsetMinutes("Europe/Berlin"));
  EXPECT_FALSE(iso::ZoneOffsetMinutes("Mars/Olympus"));
}

// ---- Reading job bodies ----

TEST(ChronosJob, DefaultsAndKeyOrderMatchTheSerializer) {
  DeserializeError err;
  auto j =
      ReadJob(Json::parse(R"({"name":"a","command":"true","schedule":"R/2017-01-01T00:00:00Z/P1D",
      "mem":64,"cpus":0,"async":true,"epsilon":"PT30S","parents_not":1,
      "constraints":[["rack","EQUALS","a"],["rack","GROUP_BY","b"]],
      "container":{"type":"docker","image":"img:1"}})"),
              ServerDefaults{}, "2026-01-01T00:00:00.000Z", &err);
  ASSERT_TRUE(j) << err.message;
  EXPECT_EQ((*j)["mem"].dump(), "64.0");
  EXPECT_EQ((*j)["cpus"].dump(), "0.1");  // 0 → --mesos_task_cpu
  EXPECT_EQ((*j)["disk"].dump(), "256.0");
  EXPECT_EQ((*j)["retries"], 2);
  EXPECT_EQ((*j)["runAsUser"], "root");
  EXPECT_FALSE(j->contains("async"));
  EXPECT_FALSE(j->contains("epsilon"));
  EXPECT_EQ((*j)["constraints"].size(), 1u);  // GROUP_BY silently dropped
  EXPECT_EQ((*j)["container"]["type"], "DOCKER");
  EXPECT_EQ((*j)["container"]["network"], "HOST");
  std::vector<std::string> keys;
  for (auto it = j->begin(); it != j->end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys.front(), "name");
  EXPECT_EQ(keys[1], "command");
  EXPECT_EQ(keys.back(), "scheduleTimeZone");
}

TEST(ChronosJob, ParentsWinAndAreASet) {
  DeserializeError err;
  auto j = ReadJob(Json::parse(R"({"name":"c","schedule":"R/2017-01-01T00:00:00Z/P1D",
      "parents":["b","a","b"]})"),
                   ServerDefaults{}, "", &err);
  ASSERT_TRUE(j);
  EXPECT_EQ(KindOf(*j), JobKind::kDependent);
  EXPECT_FALSE(j->contains("schedule"));
  EXPECT_EQ((*j)["parents"].dump(), R"(["a","b"])");
  auto runnow =
      ReadJob(Json::parse(R"({"name":"n"})"), ServerDefaults{}, "2026-01-01T00:00:00.000Z", &err);
  EXPECT_EQ((*runnow)["schedule"], "R1/2026-01-01T00:00:00.000Z/PT24H");
}

TEST(ChronosJob, DeserializerFailures) {
  DeserializeError err;
  EXPECT_FALSE(ReadJob(Json::parse(R"({"command":"x"})"), {}, "", &err));
  EXPECT_NE(err.message.find("name"), std::string::npos);
  EXPECT_FALSE(
      ReadJob(Json::parse(R"({"name":"a","environmentVariables":[{"name":"X"}]})"), {}, "", &err));
  EXPECT_FALSE(ReadJob(Json::parse(R"({"name":"a","container":{"image":"i","network":"bridge"}})"),
                       {}, "", &err));
  EXPECT_FALSE(ReadJob(Json::parse("[1]"), {}, "", &err));
  // A container without an image vanishes silently (3.x).
  auto j = ReadJob(Json::parse(R"({"name":"a","container":{"network":"HOST"}})"), {}, "", &err);
  ASSERT_TRUE(j);
  EXPECT_FALSE(j->contains("container"));
}

TEST(ChronosJob, NamesFollowThe3xPattern) {
  EXPECT_TRUE(ValidJobName("production-test-server_report.v2"));
  EXPECT_FALSE(ValidJobName("bad name"));
  EXPECT_FALSE(ValidJobName("a/b"));
  EXPECT_FALSE(ValidJobName("a#b"));
  EXPECT_FALSE(ValidJobName(""));
}

TEST(ChronosJob, SimulatedOutcomes) {
  marathon::TaskSpec s;
  s.cmd = "node migrate.js";
  EXPECT_FALSE(SimulatedRunFails(s));
  s.env["GALLEY_SANDBOX_JOB_FAIL"] = "1";
  EXPECT_TRUE(SimulatedRunFails(s));
  s.env.clear();
  s.cmd = "exit 3";
  EXPECT_TRUE(SimulatedRunFails(s));
  s.cmd = "exit 0";
  EXPECT_FALSE(SimulatedRunFails(s));
  s.cmd = "false";
  EXPECT_TRUE(SimulatedRunFails(s));
}

// ---- Scheduling decisions ----

OrderedJson Job(const std::string& body) {
  DeserializeError err;
  auto j = ReadJob(Json::parse(body), ServerDefaults{}, "2026-01-01T00:00:00.000Z", &err);
  EXPECT_TRUE(j) << err.message;
  return j ? *j : OrderedJson{};
}

class CoreTest : public ::testing::Test {
 protected:
  ChronosCore core{CoreOptions{ServerDefaults{}, 60'000}};
  int64_t t0 = At("2026-01-01T00:00:00Z");

  std::string Sched(const std::string& name, const std::string& schedule, int retries = 0) {
    auto e = core.PutScheduled(Job(R"({"name":")" + name + R"(","command":"x","retries":)" +
                                   std::to_string(retries) + R"(,"schedule":")" + schedule + "\"}"),
                               t0);
    return e ? e->message : "";
  }
  std::string Dep(const std::string& name, const std::string& parents_json) {
    auto e = core.PutDependent(
        Job(R"({"name":")" + name + R"(","command":"x","parents":)" + parents_json + "}"), t0);
    return e ? e->message : "";
  }
};

TEST_F(CoreTest, ScheduledJobFiresWhenDueAndTheScheduleMovesOn) {
  ASSERT_EQ(Sched("a", "R2/2026-01-01T00:10:00Z/PT1H"), "");
  EXPECT_TRUE(core.Tick(t0).empty());                          // not yet
  EXPECT_TRUE(core.Tick(At("2026-01-01T00:10:00Z")).empty());  // start < now, strictly
  auto l = core.Tick(At("2026-01-01T00:10:01Z"));
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].task_id, "ct:" + std::to_string(At("2026-01-01T00:10:00Z")) + ":0:a:");
  EXPECT_EQ(core.Find("a")->at("schedule"), "R1/2026-01-01T01:10:00.000Z/PT1H");
  EXPECT_EQ(core.RunState("a"), "1 running");
  core.OnFinished(l[0].task_id, true, At("2026-01-01T00:10:05Z"));
  EXPECT_EQ(core.Find("a")->at("successCount"), 1);
  EXPECT_EQ(core.Find("a")->at("lastSuccess"), "2026-01-01T00:10:05.000Z");
  EXPECT_EQ(core.LastStatus(*core.Find("a")), "success");
  EXPECT_EQ(core.Durations("a"), std::vector<int64_t>{4000});
  // The last recurrence: R0 after it, and the job is disabled on success.
  auto l2 = core.Tick(At("2026-01-01T01:10:01Z"));
  ASSERT_EQ(l2.size(), 1u);
  EXPECT_EQ(core.Find("a")->at("schedule"), "R0/2026-01-01T02:10:00.000Z/PT1H");
  core.OnFinished(l2[0].task_id, true, At("2026-01-01T01:10:02Z"));
  EXPECT_TRUE(core.Find("a")->at("disabled").get<bool>());
  EXPECT_TRUE(core.Tick(At("2026-01-01T05:00:00Z")).empty());
}

TEST_F(CoreTest, OldStartFiresOnceNeverSkipped) {
  ASSERT_EQ(Sched("a", "R/2020-01-01T00:00:00Z/P1D"), "");
  auto l = core.Tick(t0 + 1);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(core.Find("a")->at("schedule"), "R/2026-01-02T00:00:00.000Z/P1D");
  EXPECT_TRUE(core.Tick(t0 + 2).empty());
}

TEST_F(CoreTest, NoConcurrentRunsAndOneQueuedRun) {
  ASSERT_EQ(Sched("a", "R/2026-01-01T00:00:00Z/PT1S"), "");
  auto l = core.Tick(t0 + 1500);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_FALSE(core.Start("a", "", t0 + 1600));
  EXPECT_FALSE(core.Start("a", "", t0 + 1600));
  EXPECT_TRUE(core.Tick(t0 + 2500).empty());  // still running: dropped
  core.OnFinished(l[0].task_id, true, t0 + 2600);
  EXPECT_EQ(core.Tick(t0 + 3100).size(), 1u);
}

TEST_F(CoreTest, RetriesOnlyWhileCleanThenCountsTheError) {
  ASSERT_EQ(Sched("a", "R1/2026-01-01T00:00:00Z/PT1H", 1), "");
  auto l = core.Tick(t0 + 1);
  ASSERT_EQ(l.size(), 1u);
  core.OnFinished(l[0].task_id, false, t0 + 10);
  EXPECT_EQ(core.Find("a")->at("errorCount"), 0);  // a retry is due, not yet counted
  EXPECT_TRUE(core.Tick(t0 + 30'000).empty());     // --failure_retry not passed yet
  auto retry = core.Tick(t0 + 60'011);
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].attempt, 1);
  EXPECT_NE(retry[0].task_id.find(":1:a:"), std::string::npos);
  core.OnFinished(retry[0].task_id, false, t0 + 61'000);
  EXPECT_EQ(core.Find("a")->at("errorCount"), 1);
  EXPECT_EQ(core.Find("a")->at("errorsSinceLastSuccess"), 1);
  EXPECT_EQ(core.LastStatus(*core.Find("a")), "failure");
  EXPECT_TRUE(core.Tick(t0 + 200'000).empty());  // R0 and no retry left
  // Not clean any more (lastError > lastSuccess): a manual run that fails gets no retry.
  EXPECT_FALSE(core.Start("a", "", t0 + 300'000));
  auto m = core.Tick(t0 + 300'000);
  ASSERT_EQ(m.size(), 1u);
  core.OnFinished(m[0].task_id, false, t0 + 300'100);
  EXPECT_EQ(core.Find("a")->at("errorCount"), 2);
  EXPECT_TRUE(core.Tick(t0 + 900'000).empty());
}

TEST_F(CoreTest, DependantRunsWhenAllParentsSucceeded) {
  ASSERT_EQ(Sched("p1", "R/2030-01-01T00:00:00Z/P1D"), "");
  ASSERT_EQ(Sched("p2", "R/2030-01-01T00:00:00Z/P1D"), "");
  ASSERT_EQ(Dep("c", R"(["p1","p2"])"), "");
  EXPECT_FALSE(core.Start("p1", "", t0));
  auto l = core.Tick(t0);
  ASSERT_EQ(l.size(), 1u);
  core.OnFinished(l[0].task_id, true, t0 + 1);
  EXPECT_TRUE(core.Tick(t0 + 2).empty());  // p2 has not succeeded yet
  EXPECT_TRUE(core.MarkSuccess("p2", t0 + 3));
  auto c = core.Tick(t0 + 4);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].name, "c");
  EXPECT_FALSE(core.MarkSuccess("nope", t0));
}

TEST_F(CoreTest, SingleParentTriggersEverySuccessAndSoftErrorsCount) {
  ASSERT_EQ(Sched("p", "R/2030-01-01T00:00:00Z/P1D"), "");
  auto e = core.PutScheduled(Job(R"({"name":"s","command":"x","retries":0,"softError":true,
                                     "schedule":"R/2030-01-01T00:00:00Z/P1D"})"),
                             t0);
  ASSERT_FALSE(e);
  ASSERT_EQ(Dep("c", R"(["p"])"), "");
  ASSERT_EQ(Dep("d", R"(["s"])"), "");
  EXPECT_FALSE(core.Start("s", "", t0));
  auto l = core.Tick(t0);
  core.OnFinished(l[0].task_id, false, t0 + 1);
  auto d = core.Tick(t0 + 2);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].name, "d");
}

TEST_F(CoreTest, DependentValidation) {
  ASSERT_EQ(Sched("p", "R/2030-01-01T00:00:00Z/P1D"), "");
  EXPECT_EQ(Dep("c", "[]"), "java.lang.Exception: Error, parent does not exist");
  EXPECT_NE(Dep("c", R"(["c"])").find("loops"), std::string::npos);
  // Missing parent on create: accepted, invisible (3.x, #815); visible once the parent exists.
  EXPECT_EQ(Dep("orphan", R"(["later"])"), "");
  EXPECT_EQ(core.Find("orphan"), nullptr);
  ASSERT_EQ(Sched("later", "R/2030-01-01T00:00:00Z/P1D"), "");
  EXPECT_NE(core.Find("orphan"), nullptr);
  // Two hidden dependants naming each other: still hidden, no endless walk.
  EXPECT_EQ(Dep("x", R"(["y"])"), "");
  EXPECT_EQ(Dep("y", R"(["x"])"), "");
  EXPECT_EQ(core.Find("x"), nullptr);
  EXPECT_EQ(core.Visible().size(), 3u);  // p, later and orphan
  // Update with a missing parent: 400.
  ASSERT_EQ(Dep("c", R"(["p"])"), "");
  EXPECT_EQ(Dep("c", R"(["p","ghost"])"),
            "requirement failed: JobSchedule c does not have all parents defined!");
  // A cycle through an update.
  ASSERT_EQ(Dep("d", R"(["c"])"), "");
  EXPECT_NE(Dep("c", R"(["d"])").find("cycle"), std::string::npos);
}

TEST_F(CoreTest, ScheduledValidation) {
  EXPECT_EQ(Sched("bad name", "R/2030-01-01T00:00:00Z/P1D"),
            "requirement failed: the job's name is invalid. Allowed names: '([\\w\\.-]+)'");
  EXPECT_EQ(Sched("a", "R/2017-13-01T00:00:00Z/P1D"),
            "Cannot parse schedule 'R/2017-13-01T00:00:00Z/P1D' (wtf bro)");
  EXPECT_EQ(Sched("a", "R/1969-12-31T00:00:00Z/P1D"),
            "Scheduled start date '1969-12-31T00:00:00.000Z' is before 1970!");
  auto both = core.PutScheduled(Job(R"({"name":"u","schedule":"R/2030-01-01T00:00:00Z/P1D",
                                        "uris":["http://x"],"fetch":[{"uri":"http://y"}]})"),
                                t0);
  ASSERT_TRUE(both);
  EXPECT_EQ(both->message, "Tried to add both uri (deprecated) and fetch parameters on u");
  // Update path: only the schedule is checked again.
  ASSERT_EQ(Sched("ok", "R/2030-01-01T00:00:00Z/P1D"), "");
  EXPECT_EQ(Sched("ok", "R/1969-12-31T00:00:00Z/P1D"), "");
}

TEST_F(CoreTest, UpdateIsAFullReplace) {
  auto e = core.PutScheduled(Job(R"({"name":"a","command":"x","owner":"o@x","description":"d",
                                     "successCount":7,"schedule":"R/2030-01-01T00:00:00Z/P1D"})"),
                             t0);
  ASSERT_FALSE(e);
  ASSERT_EQ(Sched("a", "R/2030-01-01T00:00:00Z/P1D"), "");
  EXPECT_EQ(core.Find("a")->at("owner"), "");
  EXPECT_EQ(core.Find("a")->at("successCount"), 0);
}

TEST_F(CoreTest, DeletingParentsRewiresOrConvertsChildren) {
  ASSERT_EQ(Sched("s", "R/2030-01-01T00:00:00Z/P1D"), "");
  ASSERT_EQ(Dep("m", R"(["s"])"), "");
  auto e = core.PutDependent(Job(R"({"name":"c","command":"x","description":"managed-by: galley",
                                     "parents":["m"]})"),
                             t0);
  ASSERT_FALSE(e);
  std::vector<std::string> kill;
  ASSERT_FALSE(core.Delete("m", &kill));  // dependent: c's parents become m's parents
  EXPECT_EQ(core.Find("c")->at("parents").dump(), R"(["s"])");
  ASSERT_FALSE(core.Delete("s", &kill));  // scheduled: c becomes scheduled, fields reset
  const OrderedJson* c = core.Find("c");
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->contains("parents"));
  EXPECT_EQ(c->at("schedule"), "R/2030-01-01T00:00:00Z/P1D");
  EXPECT_EQ(c->at("description"), "");
  EXPECT_EQ(c->at("runAsUser"), "");
  auto missing = core.Delete("nope", &kill);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->message, "requirement failed: JobSchedule 'nope' not found");
}

TEST_F(CoreTest, DisabledJobsDoNotRunAndKilledRunsChangeNothing) {
  auto e = core.PutScheduled(Job(R"({"name":"a","command":"x","disabled":true,
                                     "schedule":"R/2020-01-01T00:00:00Z/P1D"})"),
                             t0);
  ASSERT_FALSE(e);
  EXPECT_TRUE(core.Tick(t0).empty());
  EXPECT_FALSE(core.Start("a", "", t0));  // accepted (204), then dropped
  EXPECT_TRUE(core.Tick(t0 + 1).empty());
  ASSERT_EQ(Sched("b", "R/2020-01-01T00:00:00Z/P1D"), "");
  auto l = core.Tick(t0 + 2);
  ASSERT_EQ(l.size(), 1u);
  core.OnKilled(l[0].task_id);
  EXPECT_EQ(core.Find("b")->at("errorCount"), 0);
  EXPECT_EQ(core.RunState("b"), "idle");
}

TEST_F(CoreTest, ManualRunArgumentsAndSnapshot) {
  auto e = core.PutScheduled(Job(R"({"name":"a","command":"x","arguments":["--x","1"],
                                     "schedule":"R/2030-01-01T00:00:00Z/P1D"})"),
                             t0);
  ASSERT_FALSE(e);
  EXPECT_FALSE(core.Start("a", " ", t0));
  auto l = core.Tick(t0);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].arguments, "--x 1");
  EXPECT_FALSE(core.Start("a", "rm;-rf", t0 + 1));
  core.OnFinished(l[0].task_id, true, t0 + 1);
  EXPECT_EQ(core.Tick(t0 + 2).at(0).arguments, "rm-rf");
  ChronosCore copy{CoreOptions{}};
  ASSERT_TRUE(copy.Restore(core.Snapshot()).ok());
  EXPECT_EQ(copy.Find("a")->dump(), core.Find("a")->dump());
  EXPECT_FALSE(copy.Restore(Json::array()).ok());
  EXPECT_TRUE(core.Start("nope", "", t0).has_value());
}

}  // namespace
}  // namespace galley::sandbox::chronos
