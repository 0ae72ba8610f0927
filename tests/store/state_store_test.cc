// SPDX-License-Identifier: Apache-2.0
// What each StateStore method does: runs, observations, applied records, plans, the
// journal, drift and leases, on an in-memory store and on files.
#include "store/state_store.h"

#include <chrono>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "base/time_text.h"
#include "store_fixture.h"

namespace galley::store {
namespace {

using std::chrono::milliseconds;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(TimestampTest, IsIso8601UtcWithMilliseconds) {
  FakeClock clock;
  EXPECT_EQ(FormatTimestamp(clock.WallNow()), "2026-11-27T12:00:00.000Z");
  clock.Advance(milliseconds(123));
  EXPECT_EQ(FormatTimestamp(clock.WallNow()), "2026-11-27T12:00:00.123Z");
  clock.Advance(milliseconds(86400000 * 5LL));
  EXPECT_EQ(FormatTimestamp(clock.WallNow()), "2026-12-02T12:00:00.123Z");
  EXPECT_EQ(FormatTimestamp(std::chrono::system_clock::time_point()), "1970-01-01T00:00:00.000Z");
}

TEST(DefaultStatePathTest, FollowsXdgThenHome) {
  EXPECT_EQ(DefaultStatePath({{"XDG_STATE_HOME", "/x/state"}, {"HOME", "/home/u"}}),
            "/x/state/galley/state.db");
  EXPECT_EQ(DefaultStatePath({{"HOME", "/home/u"}}), "/home/u/.local/state/galley/state.db");
  EXPECT_EQ(DefaultStatePath({{"XDG_STATE_HOME", ""}, {"HOME", "/home/u"}}),
            "/home/u/.local/state/galley/state.db");
  // The XDG spec says a relative path is invalid and must be ignored.
  EXPECT_EQ(DefaultStatePath({{"XDG_STATE_HOME", "rel"}, {"HOME", "/home/u"}}),
            "/home/u/.local/state/galley/state.db");
  EXPECT_EQ(DefaultStatePath({}), "./galley-state.db");
}

TEST_F(StoreTest, RunsRoundTripNewestFirst) {
  StateStore& s = Open(":memory:");
  auto a = s.BeginRun("plan", "cli", "abc123", "ann@host");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  clock_.Advance(milliseconds(1500));
  auto b = s.BeginRun("apply", "webhook", "", "bob@host");
  ASSERT_TRUE(b.ok());
  auto c = s.BeginRun("drift", "timer", "def", "");
  ASSERT_TRUE(c.ok());
  EXPECT_LT(*a, *b);
  EXPECT_LT(*b, *c);
  clock_.Advance(milliseconds(250));
  ASSERT_TRUE(s.FinishRun(*a, "changes", R"({"create":1})").ok());

  auto runs = s.RecentRuns(10);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 3u);
  EXPECT_EQ((*runs)[0].id, *c);
  EXPECT_EQ((*runs)[1].id, *b);
  const store::Run& first = (*runs)[2];
  EXPECT_EQ(first.id, *a);
  EXPECT_EQ(first.kind, "plan");
  EXPECT_EQ(first.trigger, "cli");
  EXPECT_EQ(first.commit, "abc123");
  EXPECT_EQ(first.who, "ann@host");
  EXPECT_EQ(first.started_at, "2026-11-27T12:00:00.000Z");
  EXPECT_EQ(first.finished_at, "2026-11-27T12:00:01.750Z");
  EXPECT_EQ(first.outcome, "changes");
  EXPECT_EQ(first.summary, R"({"create":1})");
  EXPECT_EQ((*runs)[1].started_at, "2026-11-27T12:00:01.500Z");
  EXPECT_EQ((*runs)[1].finished_at, "");
  EXPECT_EQ((*runs)[1].outcome, "");

  auto limited = s.RecentRuns(2);
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 2u);
  EXPECT_EQ((*limited)[0].id, *c);
  EXPECT_EQ(s.RecentRuns(0).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, RunErrors) {
  StateStore& s = Open(":memory:");
  auto bad_kind = s.BeginRun("deploy", "cli", "", "");
  ASSERT_FALSE(bad_kind.ok());
  EXPECT_EQ(bad_kind.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(bad_kind.status().message(), "CHECK constraint failed"))
      << bad_kind.status().message();
  EXPECT_TRUE(Contains(bad_kind.status().message(), "state store :memory:"))
      << bad_kind.status().message();

  auto run = s.BeginRun("apply", "cli", "", "");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(s.FinishRun(*run, "great", "{}").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.FinishRun(*run, "", "{}").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.FinishRun(*run + 100, "ok", "{}").code(), StatusCode::kNotFound);
  ASSERT_TRUE(s.FinishRun(*run, "ok", "{}").ok());
  Status again = s.FinishRun(*run, "failed", "{}");
  EXPECT_EQ(again.code(), StatusCode::kConflict);
  EXPECT_TRUE(Contains(again.message(), "already finished (ok)")) << again.message();
  // The failed calls changed nothing.
  auto runs = s.RecentRuns(5);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].outcome, "ok");
}

TEST_F(StoreTest, MarkInterruptedRunsClosesOnlyRunsWhoseProcessIsGone) {
  std::string path = Path("state.db");
  StateStore& s = Open(path);
  auto live = s.BeginRun("apply", "cli", "", "");
  auto crashed = s.BeginRun("apply", "cli", "", "");
  auto rebooted = s.BeginRun("plan", "cli", "", "");
  auto done = s.BeginRun("plan", "cli", "", "");
  ASSERT_TRUE(live.ok() && crashed.ok() && rebooted.ok() && done.ok());
  ASSERT_TRUE(s.FinishRun(*done, "ok", "{}").ok());
  // Another process that has exited (pid reuse is caught by the start time), and a run
  // from before a reboot (another boot id).
  RawText(path, "UPDATE runs SET owner_start = owner_start + 12345 WHERE id = " +
                    std::to_string(*crashed));
  RawText(path,
          "UPDATE runs SET owner_boot = 'some-other-boot' WHERE id = " + std::to_string(*rebooted));
  clock_.Advance(milliseconds(42));
  ASSERT_TRUE(s.MarkInterruptedRuns().ok());

  auto runs = s.RecentRuns(10);
  ASSERT_TRUE(runs.ok());
  std::map<int64_t, store::Run> by_id;
  for (const store::Run& r : *runs) by_id[r.id] = r;
  EXPECT_EQ(by_id[*live].outcome, "");  // this process: still running
  EXPECT_EQ(by_id[*live].finished_at, "");
  EXPECT_EQ(by_id[*crashed].outcome, "interrupted");
  EXPECT_EQ(by_id[*crashed].finished_at, "2026-11-27T12:00:00.042Z");
  EXPECT_EQ(by_id[*rebooted].outcome, "interrupted");
  EXPECT_EQ(by_id[*done].outcome, "ok");
  // Idempotent; a closed run cannot be finished again.
  ASSERT_TRUE(s.MarkInterruptedRuns().ok());
  EXPECT_EQ(s.FinishRun(*crashed, "ok", "{}").code(), StatusCode::kConflict);
  EXPECT_TRUE(s.FinishRun(*live, "ok", "{}").ok());
}

TEST_F(StoreTest, LatestObservationsAreTheNewestPerResource) {
  StateStore& s = Open(":memory:");
  auto empty = s.LatestObservations();
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->empty());

  auto r1 = s.BeginRun("plan", "cli", "", "");
  auto r2 = s.BeginRun("plan", "cli", "", "");
  ASSERT_TRUE(r1.ok() && r2.ok());
  ASSERT_TRUE(s.RecordObservations(*r1, {{"marathon-app:/app/a", "h1", "v1", R"({"id":"/app/a"})"},
                                         {"marathon-app:/app/b", "h2", "v1", R"({"id":"/app/b"})"},
                                         {"consul-kv:app/a/LOG_LEVEL", "hmac1", "17", "info"}})
                  .ok());
  ASSERT_TRUE(
      s.RecordObservations(*r2, {{"marathon-app:/app/a", "h3", "v2", R"({"id":"/app/a","x":1})"},
                                 {"consul-kv:app/a/SECRET", "hmac2", "18", ""}})
          .ok());
  ASSERT_TRUE(s.RecordObservations(*r2, {}).ok());

  auto latest = s.LatestObservations();
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 4u);
  const Observation& a = latest->at("marathon-app:/app/a");
  EXPECT_EQ(a.hash, "h3");
  EXPECT_EQ(a.token, "v2");
  EXPECT_EQ(a.body, R"({"id":"/app/a","x":1})");
  EXPECT_EQ(latest->at("marathon-app:/app/b").hash, "h2");
  EXPECT_EQ(latest->at("consul-kv:app/a/LOG_LEVEL").body, "info");
  EXPECT_EQ(latest->at("consul-kv:app/a/SECRET").body, "");

  // By prefix: only the keys that start with it (neighbours on either side left out).
  ASSERT_TRUE(
      s.RecordObservations(*r2, {{"marathon-app:/app/a", "h3", "v2", R"({"id":"/app/a","x":1})"},
                                 {"marathon-app", "h", "t", ""},
                                 {"marathon-app;", "h", "t", ""}})
          .ok());
  auto apps = s.LatestObservations("marathon-app:");
  ASSERT_TRUE(apps.ok());
  std::vector<std::string> keys;
  for (const auto& [k, o] : *apps) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"marathon-app:/app/a", "marathon-app:/app/b"}));
  EXPECT_EQ(apps->at("marathon-app:/app/a").hash, "h3");
  auto none = s.LatestObservations("agent-report:");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(s.LatestObservations("")->size(), 6u);
}

TEST_F(StoreTest, ObservationsAreAllOrNothing) {
  StateStore& s = Open(":memory:");
  EXPECT_EQ(s.RecordObservations(99, {{"r", "h", "t", "b"}}).code(), StatusCode::kNotFound);
  auto run = s.BeginRun("plan", "cli", "", "");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(s.RecordObservations(*run, {{"r", "h", "t", "b"}, {"", "h", "t", "b"}}).code(),
            StatusCode::kInvalidArgument);
  auto latest = s.LatestObservations();
  ASSERT_TRUE(latest.ok());
  EXPECT_TRUE(latest->empty());
}

TEST_F(StoreTest, AppliedRecordsRoundTripAndUpdate) {
  StateStore& s = Open(":memory:");
  auto run = s.BeginRun("apply", "cli", "c1", "ann");
  ASSERT_TRUE(run.ok());
  Applied app{"marathon-app:/app/a",
              R"({"id":"/app/a"})",
              "d1",
              "c1",
              "2026-11-27T11:00:00.000Z",
              "ann",
              *run,
              false};
  Applied kv{"consul-kv:app/a/K", "hmac", "d2", "c1", "", "ann", 0, false};
  ASSERT_TRUE(s.SetApplied({app, kv}).ok());
  auto got = s.LastApplied();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 2u);
  const Applied& a = got->at(app.resource);
  EXPECT_EQ(a.body, app.body);
  EXPECT_EQ(a.digest, "d1");
  EXPECT_EQ(a.commit, "c1");
  EXPECT_EQ(a.applied_at, "2026-11-27T11:00:00.000Z");
  EXPECT_EQ(a.applied_by, "ann");
  EXPECT_EQ(a.run_id, *run);
  EXPECT_FALSE(a.deleted);
  EXPECT_EQ(got->at(kv.resource).applied_at, "2026-11-27T12:00:00.000Z");  // defaulted to now
  EXPECT_EQ(got->at(kv.resource).run_id, 0);

  // A later apply replaces the record; a prune marks it deleted. run_id is not a foreign
  // key: records synchronised from Consul name runs of other hosts.
  app.digest = "d3";
  app.commit = "c2";
  app.deleted = true;
  app.run_id = 12345;
  ASSERT_TRUE(s.SetApplied({app}).ok());
  got = s.LastApplied();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ(got->at(app.resource).digest, "d3");
  EXPECT_EQ(got->at(app.resource).commit, "c2");
  EXPECT_TRUE(got->at(app.resource).deleted);
  EXPECT_EQ(got->at(app.resource).run_id, 12345);
  EXPECT_EQ(s.SetApplied({Applied{}}).code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, APlanAppliesOnce) {
  StateStore& s = Open(":memory:");
  auto plan_run = s.BeginRun("plan", "cli", "c1", "");
  auto apply_run = s.BeginRun("apply", "cli", "c1", "");
  ASSERT_TRUE(plan_run.ok() && apply_run.ok());
  auto id = s.SavePlan(*plan_run, R"({"actions":[]})", "sha256:aa");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  // Saving the same plan again is idempotent; another plan under its digest is refused.
  auto again = s.SavePlan(*plan_run, R"({"actions":[]})", "sha256:aa");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *id);
  EXPECT_EQ(s.SavePlan(*plan_run, R"({"actions":[1]})", "sha256:aa").status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(s.SavePlan(999, "{}", "sha256:bb").status().code(), StatusCode::kNotFound);

  EXPECT_EQ(s.MarkPlanApplied("sha256:zz", *apply_run).code(), StatusCode::kNotFound);
  EXPECT_EQ(s.MarkPlanApplied("sha256:aa", 999).code(), StatusCode::kNotFound);
  EXPECT_FALSE(s.PlanApplied("sha256:aa").value().has_value());
  EXPECT_FALSE(s.PlanApplied("sha256:zz").value().has_value());
  ASSERT_TRUE(s.MarkPlanApplied("sha256:aa", *apply_run).ok());
  auto applied = s.PlanApplied("sha256:aa");
  ASSERT_TRUE(applied.ok() && applied->has_value());
  EXPECT_TRUE(Contains(**applied, "run " + std::to_string(*apply_run) + " at ")) << **applied;
  Status twice = s.MarkPlanApplied("sha256:aa", *apply_run);
  EXPECT_EQ(twice.code(), StatusCode::kConflict);
  EXPECT_TRUE(Contains(twice.message(), "already applied by run " + std::to_string(*apply_run)))
      << twice.message();
}

TEST_F(StoreTest, UnfinishedJournalListsWhatInterruptedRunsLeftStarted) {
  StateStore& s = Open(":memory:");
  auto crashed = s.BeginRun("apply", "cli", "", "");
  auto running = s.BeginRun("apply", "cli", "", "");
  ASSERT_TRUE(crashed.ok() && running.ok());
  auto open1 =
      s.JournalStart({0, *crashed, "a1", "marathon-app:/app/a", "update", "", "{}", "", ""});
  auto done =
      s.JournalStart({0, *crashed, "a2", "marathon-app:/app/b", "update", "", "{}", "", ""});
  auto live =
      s.JournalStart({0, *running, "a3", "marathon-app:/app/c", "update", "", "{}", "", ""});
  ASSERT_TRUE(open1.ok() && done.ok() && live.ok());
  ASSERT_TRUE(s.JournalFinish(*done, "succeeded", "").ok());
  EXPECT_TRUE(s.UnfinishedJournal().value().empty());  // nothing interrupted yet
  ASSERT_TRUE(s.FinishRun(*crashed, "interrupted", "{}").ok());
  auto open = s.UnfinishedJournal();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 1u);  // not the finished entry, not the running run's
  EXPECT_EQ((*open)[0].id, *open1);
  EXPECT_EQ((*open)[0].run_id, *crashed);
  ASSERT_TRUE(s.JournalFinish(*open1, "succeeded", "").ok());
  EXPECT_TRUE(s.UnfinishedJournal().value().empty());
}

TEST_F(StoreTest, LatestFinishedJournalIsTheNewestOutcomePerResource) {
  StateStore& s = Open(":memory:");
  auto run1 = s.BeginRun("apply", "cli", "", "");
  auto run2 = s.BeginRun("apply", "cli", "", "");
  ASSERT_TRUE(run1.ok() && run2.ok());
  auto a_ok = s.JournalStart({0, *run1, "a", "marathon-app:/app/a", "update", "", "{}", "", ""});
  auto b_failed =
      s.JournalStart({0, *run1, "b", "marathon-app:/app/b", "update", "", "{}", "", ""});
  ASSERT_TRUE(a_ok.ok() && b_failed.ok());
  ASSERT_TRUE(s.JournalFinish(*a_ok, "succeeded", "").ok());
  ASSERT_TRUE(s.JournalFinish(*b_failed, "failed", R"({"error":"not healthy"})").ok());
  auto a_failed =
      s.JournalStart({0, *run2, "a", "marathon-app:/app/a", "update", "", "{}", "", ""});
  auto a_open = s.JournalStart(
      {0, *run2, "a", "marathon-app:/app/a", "update", "", "{}", "", ""});  // still started
  ASSERT_TRUE(a_failed.ok() && a_open.ok());
  ASSERT_TRUE(s.JournalFinish(*a_failed, "failed", R"({"error":"deadline"})").ok());

  auto latest = s.LatestFinishedJournal(
      {"marathon-app:/app/a", "marathon-app:/app/b", "marathon-app:/app/never"});
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  ASSERT_EQ(latest->size(), 2u);  // nothing for a resource never attempted
  EXPECT_EQ(latest->at("marathon-app:/app/a").id, *a_failed);  // newest finished, not the open one
  EXPECT_EQ(latest->at("marathon-app:/app/a").run_id, *run2);
  EXPECT_EQ(latest->at("marathon-app:/app/a").state, "failed");
  EXPECT_EQ(latest->at("marathon-app:/app/a").detail, R"({"error":"deadline"})");
  EXPECT_EQ(latest->at("marathon-app:/app/b").id, *b_failed);
  EXPECT_TRUE(s.LatestFinishedJournal({}).value().empty());

  // A later success supersedes the failure.
  auto a_retry = s.JournalStart({0, *run2, "a", "marathon-app:/app/a", "update", "", "{}", "", ""});
  ASSERT_TRUE(a_retry.ok());
  ASSERT_TRUE(s.JournalFinish(*a_retry, "succeeded", "").ok());
  EXPECT_EQ(
      s.LatestFinishedJournal({"marathon-app:/app/a"}).value().at("marathon-app:/app/a").state,
      "succeeded");
}

TEST_F(StoreTest, JournalRecordsEachStep) {
  StateStore& s = Open(":memory:");
  auto run = s.BeginRun("apply", "cli", "", "");
  ASSERT_TRUE(run.ok());
  JournalEntry put{0, *run, "a1", "consul-kv:app/a/K", "kv-put", "", R"({"cas":17})", "", ""};
  auto e1 = s.JournalStart(put);
  ASSERT_TRUE(e1.ok()) << e1.status().ToString();
  clock_.Advance(milliseconds(5));
  JournalEntry update{0, *run, "a2", "marathon-app:/app/a", "update", "started", "", "", ""};
  auto e2 = s.JournalStart(update);
  JournalEntry skipped{
      0,  *run, "a3", "marathon-app:/app/b", "restart", "skipped", R"({"why":"dependency failed"})",
      "", ""};
  auto e3 = s.JournalStart(skipped);
  ASSERT_TRUE(e2.ok() && e3.ok());
  clock_.Advance(milliseconds(5));
  ASSERT_TRUE(s.JournalFinish(*e1, "succeeded", "").ok());  // keeps the start detail
  ASSERT_TRUE(s.JournalFinish(*e2, "failed", R"({"error":"deadline"})").ok());

  auto journal = s.Journal(*run);
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ(journal->size(), 3u);
  const JournalEntry& j1 = (*journal)[0];
  EXPECT_EQ(j1.id, *e1);
  EXPECT_EQ(j1.run_id, *run);
  EXPECT_EQ(j1.action_id, "a1");
  EXPECT_EQ(j1.resource, "consul-kv:app/a/K");
  EXPECT_EQ(j1.kind, "kv-put");
  EXPECT_EQ(j1.state, "succeeded");
  EXPECT_EQ(j1.detail, R"({"cas":17})");
  EXPECT_EQ(j1.started_at, "2026-11-27T12:00:00.000Z");
  EXPECT_EQ(j1.finished_at, "2026-11-27T12:00:00.010Z");
  EXPECT_EQ((*journal)[1].state, "failed");
  EXPECT_EQ((*journal)[1].detail, R"({"error":"deadline"})");
  EXPECT_EQ((*journal)[2].state, "skipped");
  EXPECT_EQ((*journal)[2].finished_at, "2026-11-27T12:00:00.005Z");

  EXPECT_EQ(s.JournalFinish(*e1, "failed", "").code(), StatusCode::kConflict);
  EXPECT_EQ(s.JournalFinish(*e3, "succeeded", "").code(), StatusCode::kConflict);
  EXPECT_EQ(s.JournalFinish(12345, "failed", "").code(), StatusCode::kNotFound);
  EXPECT_EQ(s.JournalFinish(*e1, "started", "").code(), StatusCode::kInvalidArgument);
  JournalEntry bad = put;
  bad.kind = "teleport";
  EXPECT_EQ(s.JournalStart(bad).status().code(), StatusCode::kInvalidArgument);
  bad = put;
  bad.run_id = 4242;
  EXPECT_EQ(s.JournalStart(bad).status().code(), StatusCode::kNotFound);
  auto other = s.Journal(4242);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());
}

TEST_F(StoreTest, DriftKeepsFirstSeenAndReopensAfterResolution) {
  std::string path = Path("drift.db");
  StateStore& s = Open(path);
  const std::string r = "marathon-app:/app/a";
  ASSERT_TRUE(s.UpsertDrift(r, R"([{"path":"/instances","applied":4,"live":6}])",
                            "2026-11-27T10:00:00.000Z")
                  .ok());
  ASSERT_TRUE(s.UpsertDrift(r, R"([{"path":"/instances","applied":4,"live":7}])",
                            "2026-11-27T11:00:00.000Z")
                  .ok());
  // An older sighting does not move last_seen back.
  ASSERT_TRUE(s.UpsertDrift(r, R"([{"path":"/instances","applied":4,"live":7}])",
                            "2026-11-27T10:30:00.000Z")
                  .ok());
  ASSERT_TRUE(s.UpsertDrift("consul-kv:app/a/K", "[]", "").ok());  // "" = now

  auto open = s.OpenDrift();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 2u);
  const Drift& d = (*open)[1];
  EXPECT_EQ(d.resource, r);
  EXPECT_EQ(d.fields, R"([{"path":"/instances","applied":4,"live":7}])");
  EXPECT_EQ(d.first_seen, "2026-11-27T10:00:00.000Z");
  EXPECT_EQ(d.last_seen, "2026-11-27T11:00:00.000Z");
  EXPECT_EQ(d.resolution, "");
  EXPECT_EQ((*open)[0].first_seen, "2026-11-27T12:00:00.000Z");

  ASSERT_TRUE(s.ResolveDrift(r, "reverted").ok());
  EXPECT_EQ(s.ResolveDrift(r, "reverted").code(), StatusCode::kNotFound);  // nothing open
  EXPECT_EQ(s.ResolveDrift("consul-kv:app/a/K", "forgotten").code(), StatusCode::kInvalidArgument);
  open = s.OpenDrift();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 1u);

  // New drift after a resolution is a new record; the resolved one stays as history.
  ASSERT_TRUE(s.UpsertDrift(r, R"([{"path":"/cpus"}])", "2026-11-27T13:00:00.000Z").ok());
  open = s.OpenDrift();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 2u);
  EXPECT_EQ((*open)[1].first_seen, "2026-11-27T13:00:00.000Z");
  EXPECT_EQ(RawInt(path, "SELECT count(*) FROM drift WHERE resource = '" + r + "'"), 2);
  EXPECT_EQ(
      RawText(path,
              "SELECT resolution || ' ' || resolved_at FROM drift WHERE resolved_at IS NOT NULL"),
      "reverted 2026-11-27T12:00:00.000Z");
}

TEST_F(StoreTest, LeasesAcrossTwoStoresOnOneFile) {
  std::string path = Path("lease.db");
  StateStore& a = Open(path);
  StateStore& b = Open(path);
  auto got = a.AcquireLease("apply/prod", "host-a:1", 1);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got);
  got = b.AcquireLease("apply/prod", "host-a:2", 1);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(*got);  // held by a live holder
  auto holder = b.LeaseHolder("apply/prod");
  ASSERT_TRUE(holder.ok());
  EXPECT_EQ(holder->value_or("none"), "host-a:1");
  // Other names are independent.
  got = b.AcquireLease("apply/staging", "host-a:2", 1);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got);

  // Renewal by the holder extends it past the original expiry.
  clock_.Advance(milliseconds(800));
  got = a.AcquireLease("apply/prod", "host-a:1", 1);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got);
  clock_.Advance(milliseconds(800));
  EXPECT_EQ(b.LeaseHolder("apply/prod")->value_or("none"), "host-a:1");
  EXPECT_FALSE(*b.AcquireLease("apply/prod", "host-a:2", 1));
  EXPECT_EQ(b.ReleaseLease("apply/prod", "host-a:2").code(), StatusCode::kConflict);

  // Expired: free for anyone.
  clock_.Advance(milliseconds(300));
  holder = b.LeaseHolder("apply/prod");
  ASSERT_TRUE(holder.ok());
  EXPECT_FALSE(holder->has_value());
  got = b.AcquireLease("apply/prod", "host-a:2", 30);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got);
  EXPECT_FALSE(*a.AcquireLease("apply/prod", "host-a:1", 30));
  EXPECT_EQ(a.ReleaseLease("apply/prod", "host-a:1").code(), StatusCode::kConflict);
  ASSERT_TRUE(b.ReleaseLease("apply/prod", "host-a:2").ok());
  ASSERT_TRUE(b.ReleaseLease("apply/prod", "host-a:2").ok());  // already free
  EXPECT_FALSE(a.LeaseHolder("apply/prod")->has_value());
  EXPECT_TRUE(*a.AcquireLease("apply/prod", "host-a:1", 30));
  EXPECT_EQ(a.AcquireLease("apply/prod", "host-a:1", 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(a.AcquireLease("", "x", 10).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, LeaseExpiresOnTheRealClock) {
  auto store = OpenSqliteStore(Path("real.db"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Track(Path("real.db"));
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(*(*store)->AcquireLease("l", "one", 1));
  bool taken = *(*store)->AcquireLease("l", "two", 1);
  // Only while the 1 s lease can still be running: a loaded machine (sanitizers, 2 cores) may
  // take longer than that between the two calls.
  if (std::chrono::steady_clock::now() - start < milliseconds(900)) {
    EXPECT_FALSE(taken);
  }
  std::this_thread::sleep_for(milliseconds(1100));
  EXPECT_TRUE(*(*store)->AcquireLease("l", "two", 1));
  EXPECT_EQ(*(*store)->IntegrityCheck(), "ok");
}

}  // namespace
}  // namespace galley::store
