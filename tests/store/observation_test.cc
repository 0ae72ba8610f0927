// SPDX-License-Identifier: Apache-2.0
// The store stays bounded (issue #14): observations are written only when they change (a
// converged plan writes none), a resource no longer seen is marked gone, retention prunes
// runs by count and by age, and never the newest observation of a live resource, an
// applied record, an open drift record, an unfinished run or one whose journal is open; a
// schema-3 file is migrated with its newest observations kept.
#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "store/migrations.h"
#include "store_fixture.h"

namespace galley::store {
namespace {

using std::chrono::hours;

class ObservationTest : public StoreTest {
 protected:
  StateStore& OpenFile(const std::string& path, std::optional<Retention> retention = {}) {
    StoreOptions options;
    options.clock = &clock_;
    options.retention = retention;
    auto store = OpenSqliteStore(path, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) throw std::runtime_error(store.status().ToString());
    Track(path);
    stores_.push_back(std::move(store).value());
    return *stores_.back();
  }

  // `n` apps, every one with the token `version`.
  static std::vector<Observation> Apps(int n, const std::string& version) {
    std::vector<Observation> obs;
    for (int i = 0; i < n; ++i) {
      obs.push_back(
          {"marathon-app:/app/p/s" + std::to_string(i), "h" + std::to_string(i), version, ""});
    }
    return obs;
  }

  // A finished run of `kind` that saw `obs`; the clock then moves on by `step`.
  int64_t Run(StateStore& s, const std::string& kind, const std::vector<Observation>& obs,
              std::chrono::milliseconds step = std::chrono::minutes(5),
              const std::string& outcome = "ok") {
    auto id = s.BeginRun(kind, "timer", "", "me@here");
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    if (!obs.empty()) {
      EXPECT_TRUE(s.RecordObservations(*id, obs).ok());
    }
    EXPECT_TRUE(s.FinishRun(*id, outcome, "{}").ok());
    clock_.Advance(step);
    return *id;
  }

  int64_t Rows(const std::string& path, const std::string& table) {
    return RawInt(path, "SELECT count(*) FROM " + table);
  }
};

TEST_F(ObservationTest, AConvergedRunWritesNoObservation) {
  std::string path = Path("state.db");
  StateStore& s = OpenFile(path);
  Run(s, "plan", Apps(200, "v1"));
  EXPECT_EQ(Rows(path, "observations"), 200);
  EXPECT_EQ(Rows(path, "observation_heads"), 200);
  for (int i = 0; i < 5; ++i) Run(s, "plan", Apps(200, "v1"));
  EXPECT_EQ(Rows(path, "observations"), 200);  // nothing changed: nothing written

  // One app deployed (a new version), one's body now recorded, one KV value changed.
  std::vector<Observation> obs = Apps(200, "v1");
  obs[3].token = "v2";
  obs[4].body = R"({"id":"/app/p/s4"})";
  obs.push_back({"consul-kv:app/p/s0/K", "hmac1", "17", ""});
  Run(s, "drift", obs);
  EXPECT_EQ(Rows(path, "observations"), 203);
  obs[199].hash = "changed";
  Run(s, "plan", obs);
  EXPECT_EQ(Rows(path, "observations"), 204);

  auto latest = s.LatestObservations();
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 201u);
  EXPECT_EQ(latest->at("marathon-app:/app/p/s3").token, "v2");
  EXPECT_EQ(latest->at("marathon-app:/app/p/s4").body, R"({"id":"/app/p/s4"})");
  EXPECT_EQ(latest->at("marathon-app:/app/p/s199").hash, "changed");
  EXPECT_EQ(latest->at("consul-kv:app/p/s0/K").hash, "hmac1");
  EXPECT_EQ(latest->at("marathon-app:/app/p/s5").token, "v1");
}

TEST_F(ObservationTest, AResourceNoLongerSeenIsMarkedGoneAndComesBack) {
  std::string path = Path("state.db");
  StateStore& s = OpenFile(path);
  Run(s, "plan", Apps(3, "v1"));
  int64_t second = Run(s, "plan", Apps(2, "v1"));  // s2 is gone
  EXPECT_EQ(RawInt(path,
                   "SELECT gone_run FROM observation_heads WHERE resource = "
                   "'marathon-app:/app/p/s2'"),
            second);
  auto latest = s.LatestObservations();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->size(), 3u);  // still the newest observation of s2
  Run(s, "plan", Apps(2, "v1"));  // still gone: first seen missing in `second`
  EXPECT_EQ(RawInt(path,
                   "SELECT gone_run FROM observation_heads WHERE resource = "
                   "'marathon-app:/app/p/s2'"),
            second);
  Run(s, "plan", Apps(3, "v1"));  // back, unchanged: unmarked, nothing written
  EXPECT_EQ(Rows(path, "observation_heads WHERE gone_run IS NOT NULL"), 0);
  EXPECT_EQ(Rows(path, "observations"), 3);
  // Twice in one call: the later one is the newest.
  auto id = s.BeginRun("plan", "cli", "", "");
  ASSERT_TRUE(id.ok());
  std::vector<Observation> twice = Apps(3, "v1");
  twice.push_back({"marathon-app:/app/p/s0", "h0", "v9", ""});
  ASSERT_TRUE(s.RecordObservations(*id, twice).ok());
  latest = s.LatestObservations();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->at("marathon-app:/app/p/s0").token, "v9");
}

// Retention by count: old runs go with their history, the heads they recorded stay.
TEST_F(ObservationTest, PruningRunsKeepsTheNewestObservationOfLiveResources) {
  std::string path = Path("state.db");
  Retention r;
  r.plans = 3;
  r.observation_runs = 2;
  StateStore& s = OpenFile(path, r);
  int64_t first = Run(s, "plan", Apps(50, "v1"));
  std::vector<Observation> obs = Apps(50, "v1");
  for (int i = 0; i < 20; ++i) {
    obs[0].token = "x" + std::to_string(i);  // one app keeps changing
    Run(s, "plan", obs);
  }
  EXPECT_EQ(Rows(path, "runs"), 3);
  EXPECT_EQ(Rows(path, "runs WHERE id = " + std::to_string(first)), 0);
  EXPECT_LE(Rows(path, "observations"), 2);  // the history of the last two runs that wrote any
  auto latest = s.LatestObservations();
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 50u);
  EXPECT_EQ(latest->at("marathon-app:/app/p/s0").token, "x19");
  EXPECT_EQ(latest->at("marathon-app:/app/p/s1").token, "v1");  // recorded by a pruned run

  // A year later, still seen: still there.
  clock_.Advance(hours(24 * 400));
  Run(s, "plan", obs);
  latest = s.LatestObservations();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->size(), 50u);
  EXPECT_EQ(Rows(path, "observation_heads"), 50);
}

TEST_F(ObservationTest, AGoneResourceIsForgottenAfterObservationRunsOrAge) {
  std::string path = Path("state.db");
  Retention r;
  r.observation_runs = 3;
  StateStore& s = OpenFile(path, r);
  Run(s, "plan", Apps(3, "v1"));
  Run(s, "plan", Apps(2, "v1"));  // s2 gone: 1st run without it
  Run(s, "drift", Apps(2, "v1"));
  Run(s, "apply", {});  // applies record no observations and do not count
  EXPECT_EQ(Rows(path, "observation_heads"), 3);
  Run(s, "plan", Apps(2, "v1"));  // 3rd plan or drift check without it
  EXPECT_EQ(Rows(path, "observation_heads"), 3);
  Run(s, "plan", Apps(2, "v1"));  // the run it went missing in is no longer among the newest 3
  EXPECT_EQ(Rows(path, "observation_heads"), 2);

  // By age: gone for longer than observation_max_age.
  Retention by_age;
  by_age.observation_runs = 1000;
  StateStore& t = OpenFile(Path("age.db"), by_age);
  Run(t, "plan", Apps(3, "v1"));
  Run(t, "plan", Apps(2, "v1"), hours(24 * 6));
  Run(t, "plan", Apps(2, "v1"), hours(24 * 2));
  EXPECT_EQ(Rows(Path("age.db"), "observation_heads"), 3);
  Run(t, "plan", Apps(2, "v1"));
  EXPECT_EQ(Rows(Path("age.db"), "observation_heads"), 2);
}

// Retention by age: runs older than max_age go, except the newest of each kind, an
// unfinished one and one whose journal is open; applied records and open drift stay.
TEST_F(ObservationTest, RunsArePrunedByAgeButNeverWhatMustStay) {
  std::string path = Path("state.db");
  StateStore& s = OpenFile(path);
  int64_t old_apply = Run(s, "apply", {}, std::chrono::seconds(1), "failed");
  int64_t second_apply = Run(s, "apply", {}, std::chrono::seconds(1));
  auto open = s.BeginRun("apply", "cli", "", "");  // unfinished (its process is alive)
  ASSERT_TRUE(open.ok());
  auto interrupted = s.BeginRun("apply", "cli", "", "");
  ASSERT_TRUE(interrupted.ok());
  JournalEntry started{.run_id = *interrupted,
                       .action_id = "app:/app/p/s0",
                       .resource = "marathon-app:/app/p/s0",
                       .kind = "update"};
  ASSERT_TRUE(s.JournalStart(started).ok());
  ASSERT_TRUE(s.FinishRun(*interrupted, "interrupted", "{}").ok());
  int64_t old_plan = Run(s, "plan", Apps(2, "v1"));
  int64_t newest_plan = Run(s, "plan", Apps(2, "v1"));
  Applied rec;
  rec.resource = "marathon-app:/app/p/s0";
  rec.body = "{}";
  rec.digest = "d";
  rec.run_id = old_apply;
  ASSERT_TRUE(s.SetApplied({rec}).ok());
  ASSERT_TRUE(s.UpsertDrift("marathon-app:/app/p/s0", "[]", "").ok());
  ASSERT_TRUE(s.UpsertDrift("marathon-app:/app/p/s1", "[]", "").ok());
  ASSERT_TRUE(s.ResolveDrift("marathon-app:/app/p/s1", "reverted").ok());

  clock_.Advance(hours(24 * 31));
  Retention r;
  r.max_age = hours(24 * 30);
  ASSERT_TRUE(s.Prune(r).ok());
  auto gone = [&](int64_t id) { return Rows(path, "runs WHERE id = " + std::to_string(id)) == 0; };
  EXPECT_TRUE(gone(old_apply));
  EXPECT_TRUE(gone(second_apply));
  EXPECT_TRUE(gone(old_plan));
  EXPECT_FALSE(gone(*interrupted));  // its journal is still open (and it is the newest apply)
  EXPECT_FALSE(gone(*open));         // unfinished
  EXPECT_FALSE(gone(newest_plan));   // the newest of its kind
  auto applied = s.LastApplied();
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(applied->size(), 1u);
  auto drift = s.OpenDrift();
  ASSERT_TRUE(drift.ok());
  ASSERT_EQ(drift->size(), 1u);
  EXPECT_EQ(drift->front().resource, "marathon-app:/app/p/s0");
  EXPECT_EQ(Rows(path, "drift"), 1);  // the resolved record went
  auto latest = s.LatestObservations();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->size(), 2u);  // recorded by a pruned plan run, still seen

  Retention bad;
  bad.max_age = std::chrono::seconds(0);
  EXPECT_EQ(s.Prune(bad).code(), StatusCode::kInvalidArgument);
}

// A file galley wrote before 0004: its newest observation of each resource becomes a head;
// the first run after the upgrade writes each observation once more (the heads' digests
// are unknown), the next writes none.
TEST_F(ObservationTest, ASchema3FileKeepsItsNewestObservations) {
  std::string path = Path("old.db");
  {
    std::string sql;
    for (int v = 0; v < 3; ++v) sql += Migrations()[v].sql;
    sql +=
        "PRAGMA user_version = 3; PRAGMA application_id = 1195461708;"
        "INSERT INTO runs (id, kind, \"trigger\", who, started_at, finished_at, outcome) VALUES "
        "(1, 'plan', 'cli', 'old@host', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z', "
        "'ok'), (2, 'plan', 'cli', 'old@host', '2026-01-02T00:00:00.000Z', "
        "'2026-01-02T00:00:01.000Z', 'ok');"
        "INSERT INTO observations (run_id, resource, hash, token, body, seen_at) VALUES "
        "(1, 'marathon-app:/app/p/s0', 'h0', 'v1', '', '2026-01-01T00:00:00.000Z'),"
        "(1, 'marathon-app:/app/p/s1', 'h1', 'v1', '', '2026-01-01T00:00:00.000Z'),"
        "(2, 'marathon-app:/app/p/s0', 'h0', 'v2', '{\"a\":1}', '2026-01-02T00:00:00.000Z'),"
        "(2, 'marathon-app:/app/p/s1', 'h1', 'v1', '', '2026-01-02T00:00:00.000Z');";
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    char* msg = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg), SQLITE_OK) << (msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
  }
  StateStore& s = OpenFile(path);
  EXPECT_EQ(*s.SchemaVersion(), static_cast<int>(Migrations().size()));
  EXPECT_GE(Migrations().size(), 4u);
  EXPECT_STREQ(Migrations()[3].name, "0004_observation_heads");
  auto latest = s.LatestObservations();
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 2u);
  EXPECT_EQ(latest->at("marathon-app:/app/p/s0").token, "v2");
  EXPECT_EQ(latest->at("marathon-app:/app/p/s0").body, R"({"a":1})");
  EXPECT_EQ(Rows(path, "observations"), 4);  // the history is kept as it was

  std::vector<Observation> now = {{"marathon-app:/app/p/s0", "h0", "v2", R"({"a":1})"},
                                  {"marathon-app:/app/p/s1", "h1", "v1", ""}};
  Run(s, "plan", now);
  EXPECT_EQ(Rows(path, "observations"), 6);
  Run(s, "plan", now);
  EXPECT_EQ(Rows(path, "observations"), 6);
}

}  // namespace
}  // namespace galley::store
