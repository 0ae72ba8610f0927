// SPDX-License-Identifier: Apache-2.0
// Retention (StateStore::Prune: runs per kind, no-op runs first, observations by count of
// runs and age), where runs come from (RunOrigin), the outcome "not-confirmed", migrating a
// schema-1 file, and read-only stores (what `galley history` opens): nothing created,
// migrated or written; paths that are not regular files refused before they are opened.
#include <chrono>
#include <filesystem>
#include <string>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/migrations.h"
#include "store_fixture.h"

namespace galley::store {
namespace {

using std::chrono::hours;

class RetentionTest : public StoreTest {
 protected:
  static int64_t Count(const std::string& path, const std::string& sql) {
    return RawInt(path, sql);
  }

  StateStore& OpenWith(const std::string& path, std::optional<Retention> retention = std::nullopt) {
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

  // A finished run of `kind` with `outcome` and `summary`, `observations` rows recorded
  // (each run sees every resource changed: a new token).
  int64_t AddRun(StateStore& s, const std::string& kind, const std::string& outcome,
                 const std::string& summary, int observations = 0) {
    auto id = s.BeginRun(kind, "cli", "", "me@here");
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    std::vector<Observation> obs;
    for (int i = 0; i < observations; ++i) {
      obs.push_back({"marathon-app:/app/p/s" + std::to_string(i), "h", "v" + std::to_string(*id),
                     "{\"big\": true}"});
    }
    if (!obs.empty()) {
      EXPECT_TRUE(s.RecordObservations(*id, obs).ok());
    }
    EXPECT_TRUE(s.FinishRun(*id, outcome, summary).ok());
    clock_.Advance(std::chrono::seconds(1));
    return *id;
  }
};

TEST_F(RetentionTest, EachKindIsKeptApartAndRunsThatChangedNothingGoFirst) {
  std::string path = Path("state.db");
  StateStore& s = OpenWith(path);
  int64_t apply_ok = AddRun(s, "apply", "ok", R"({"applied": 2, "failed": 0})");
  int64_t apply_noop = AddRun(s, "apply", "ok", R"({"actions": 0, "applied": 0, "failed": 0})");
  int64_t apply_failed = AddRun(s, "apply", "failed", R"({"error": "x"})");
  int64_t changes_old = AddRun(s, "plan", "changes", R"({"actions": 1})");
  for (int i = 0; i < 30; ++i) AddRun(s, "plan", "ok", R"({"actions": 0})");
  int64_t changes_new = AddRun(s, "plan", "changes", R"({"actions": 3})");
  for (int i = 0; i < 10; ++i) AddRun(s, "drift", "ok", R"({"drift": 0})");
  int64_t drifted = AddRun(s, "drift", "changes", R"({"drift": 1})");

  Retention r;
  r.applies = 2;
  r.plans = 5;
  r.drift_checks = 1;
  ASSERT_TRUE(s.Prune(r).ok());
  // 41 plans and drift checks did not push any apply out; the no-op apply went first.
  EXPECT_EQ(Count(path, "SELECT count(*) FROM runs WHERE kind = 'apply'"), 2);
  EXPECT_EQ(Count(path, "SELECT count(*) FROM runs WHERE id = " + std::to_string(apply_noop)), 0);
  EXPECT_EQ(Count(path, "SELECT count(*) FROM runs WHERE id IN (" + std::to_string(apply_ok) +
                            ", " + std::to_string(apply_failed) + ")"),
            2);
  // Plans: both with changes kept (even the oldest run), the newest no-op ones fill up.
  EXPECT_EQ(Count(path, "SELECT count(*) FROM runs WHERE kind = 'plan'"), 5);
  EXPECT_EQ(Count(path, "SELECT count(*) FROM runs WHERE id IN (" + std::to_string(changes_old) +
                            ", " + std::to_string(changes_new) + ")"),
            2);
  EXPECT_EQ(Count(path, "SELECT count(*) FROM runs WHERE kind = 'drift'"), 1);
  EXPECT_EQ(Count(path, "SELECT id FROM runs WHERE kind = 'drift'"), drifted);
  // Pruning again changes nothing.
  ASSERT_TRUE(s.Prune(r).ok());
  EXPECT_EQ(Count(path, "SELECT count(*) FROM runs"), 8);
}

TEST_F(RetentionTest, RunsStillOpenOrWithJournalToSettleAreNeverPruned) {
  std::string path = Path("state.db");
  StateStore& s = OpenWith(path);
  auto open = s.BeginRun("apply", "cli", "", "me@here");  // still running
  ASSERT_TRUE(open.ok());
  auto killed = s.BeginRun("apply", "cli", "", "me@here");
  ASSERT_TRUE(killed.ok());
  JournalEntry e;
  e.run_id = *killed;
  e.action_id = "app:/app/p/s";
  e.resource = "marathon-app:/app/p/s";
  e.kind = "update";
  ASSERT_TRUE(s.JournalStart(e).ok());
  ASSERT_TRUE(s.FinishRun(*killed, "interrupted", "{}").ok());  // its entry stays "started"
  for (int i = 0; i < 5; ++i) AddRun(s, "apply", "ok", R"({"applied": 1})");
  Retention r;
  r.applies = 1;
  ASSERT_TRUE(s.Prune(r).ok());
  EXPECT_EQ(Count(path, "SELECT count(*) FROM runs WHERE id IN (" + std::to_string(*open) + ", " +
                            std::to_string(*killed) + ")"),
            2);
  auto unfinished = s.UnfinishedJournal();
  ASSERT_TRUE(unfinished.ok());
  EXPECT_EQ(unfinished->size(), 1u);
  EXPECT_EQ(Count(path,
                  "SELECT count(*) FROM runs WHERE kind = 'apply' AND finished_at IS NOT NULL "
                  "AND outcome = 'ok'"),
            0);  // the five finished ones made way: the kept count includes the two that stay
}

TEST_F(RetentionTest, ObservationsAreKeptForTheNewestRunsAndNotBeyondTheirAge) {
  std::string path = Path("state.db");
  StateStore& s = OpenWith(path);
  for (int i = 0; i < 6; ++i) AddRun(s, "plan", "ok", R"({"actions": 0})", 50);
  Retention r;
  r.observation_runs = 3;
  ASSERT_TRUE(s.Prune(r).ok());
  EXPECT_EQ(Count(path, "SELECT count(DISTINCT run_id) FROM observations"), 3);
  EXPECT_EQ(Count(path, "SELECT min(run_id) FROM observations"), 4);
  EXPECT_EQ(Count(path, "SELECT count(*) FROM runs"), 6);  // the runs themselves stay
  auto latest = s.LatestObservations();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->size(), 50u);

  // A week later no history is young enough; the newest observation of each live resource
  // stays whatever its age.
  clock_.Advance(hours(24 * 7 + 1));
  ASSERT_TRUE(s.Prune(r).ok());
  EXPECT_EQ(Count(path, "SELECT count(*) FROM observations"), 0);
  latest = s.LatestObservations();
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 50u);
  EXPECT_EQ(latest->at("marathon-app:/app/p/s7").token, "v6");
}

TEST_F(RetentionTest, FinishRunPrunesAndTheFileStopsGrowing) {
  std::string path = Path("state.db");
  Retention r;
  r.plans = 5;
  r.observation_runs = 2;
  StateStore& s = OpenWith(path, r);
  for (int i = 0; i < 10; ++i) AddRun(s, "plan", "ok", R"({"actions": 0})", 400);
  EXPECT_EQ(Count(path, "SELECT count(*) FROM runs"), 5);
  EXPECT_EQ(Count(path, "SELECT count(*) FROM observations"), 800);
  int64_t pages = Count(path, "PRAGMA page_count");
  for (int i = 0; i < 30; ++i) AddRun(s, "plan", "ok", R"({"actions": 0})", 400);
  EXPECT_EQ(Count(path, "SELECT count(*) FROM runs"), 5);
  // New files use incremental auto-vacuum: freed pages are given back, not kept free.
  EXPECT_EQ(Count(path, "PRAGMA auto_vacuum"), 2);
  EXPECT_LE(Count(path, "PRAGMA page_count"), pages + 2);
  EXPECT_EQ(Count(path, "PRAGMA freelist_count"), 0);
}

TEST_F(RetentionTest, ASavedPlansAppliedMarkOutlivesItsPlanRun) {
  std::string path = Path("state.db");
  StateStore& s = OpenWith(path);
  auto plan_run = s.BeginRun("plan", "cli", "", "me@here");
  ASSERT_TRUE(plan_run.ok());
  ASSERT_TRUE(s.SavePlan(*plan_run, "{\"plan\": 1}", "d1").ok());
  ASSERT_TRUE(s.FinishRun(*plan_run, "changes", "{}").ok());
  int64_t apply = AddRun(s, "apply", "ok", R"({"applied": 1})");
  ASSERT_TRUE(s.MarkPlanApplied("d1", apply).ok());
  for (int i = 0; i < 3; ++i) AddRun(s, "plan", "changes", R"({"actions": 1})");
  Retention r;
  r.plans = 1;
  ASSERT_TRUE(s.Prune(r).ok());
  EXPECT_EQ(Count(path, "SELECT count(*) FROM runs WHERE id = " + std::to_string(*plan_run)), 0);
  auto applied = s.PlanApplied("d1");
  ASSERT_TRUE(applied.ok());
  ASSERT_TRUE(applied->has_value());
  EXPECT_TRUE(applied->value().starts_with("run " + std::to_string(apply) + " at "))
      << applied->value();
  // Once the apply run goes too, so does the plan.
  r.applies = 1;
  AddRun(s, "apply", "ok", R"({"applied": 1})");
  ASSERT_TRUE(s.Prune(r).ok());
  EXPECT_EQ(Count(path, "SELECT count(*) FROM plans"), 0);
}

TEST_F(RetentionTest, RetentionCountsMustBePositive) {
  StateStore& s = OpenWith(Path("state.db"));
  Retention r;
  r.plans = 0;
  Status st = s.Prune(r);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
}

TEST_F(RetentionTest, OriginAndNotConfirmedRoundTrip) {
  StateStore& s = OpenWith(Path("state.db"));
  RunOrigin origin{"octocat", "github-actions", "https://github.com/o/r/actions/runs/42", "abc123"};
  auto id = s.BeginRun("apply", "cli", "abc123", origin);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(s.FinishRun(*id, "not-confirmed", R"({"cancelled": true})").ok());
  auto runs = s.RecentRuns(1);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  const store::Run& r = runs->front();
  EXPECT_EQ(r.who, "octocat");
  EXPECT_EQ(r.ci, "github-actions");
  EXPECT_EQ(r.ci_url, "https://github.com/o/r/actions/runs/42");
  EXPECT_EQ(r.ci_commit, "abc123");
  EXPECT_EQ(r.outcome, "not-confirmed");
}

// A state file written by a galley that knew only migration 1.
std::string MakeSchema1File(const std::string& path) {
  std::string sql =
      std::string(Migrations()[0].sql) +
      "PRAGMA user_version = 1; PRAGMA application_id = 1195461708;"
      "INSERT INTO runs (kind, \"trigger\", who, started_at, finished_at, outcome, summary) "
      "VALUES ('apply', 'cli', 'old@host', '2026-01-01T00:00:00.000Z', "
      "'2026-01-01T00:00:01.000Z', 'ok', '{}');";
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* msg = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg), SQLITE_OK) << (msg ? msg : "");
  sqlite3_free(msg);
  sqlite3_close(db);
  return path;
}

TEST_F(RetentionTest, ASchema1FileIsMigratedKeepingItsRuns) {
  std::string path = MakeSchema1File(Path("old.db"));
  StateStore& s = OpenWith(path);
  EXPECT_EQ(*s.SchemaVersion(), static_cast<int>(Migrations().size()));
  auto runs = s.RecentRuns(5);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().who, "old@host");
  EXPECT_EQ(runs->front().ci, "");
  auto id = s.BeginRun("apply", "cli", "", RunOrigin{"me@here"});
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(s.FinishRun(*id, "not-confirmed", "{}").ok());
}

Result<std::unique_ptr<StateStore>> OpenReadOnly(const std::string& path) {
  StoreOptions options;
  options.read_only = true;
  return OpenSqliteStore(path, options);
}

TEST_F(RetentionTest, ReadOnlyOpensCreateNothing) {
  std::string missing_dir = Path("no/such/dir");
  auto st = OpenReadOnly(missing_dir + "/state.db");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(st.status().message(), "state file " + missing_dir +
                                       "/state.db does not exist (nor does its directory " +
                                       missing_dir + ")");
  EXPECT_FALSE(std::filesystem::exists(Path("no")));
  auto absent = OpenReadOnly(Path("state.db"));
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.status().message(), "state file " + Path("state.db") + " does not exist");
  EXPECT_FALSE(std::filesystem::exists(Path("state.db")));
}

TEST_F(RetentionTest, ReadOnlyReadsAnOlderSchemaWithoutMigratingOrWriting) {
  std::string path = MakeSchema1File(Path("old.db"));
  auto st = OpenReadOnly(path);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  auto runs = (*st)->RecentRuns(5);
  ASSERT_TRUE(runs.ok()) << runs.status().ToString();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().who, "old@host");
  Applied rec;
  rec.resource = "consul-kv:app/p/s/K";
  rec.body = "v";
  Status write = (*st)->SetApplied({rec});
  EXPECT_EQ(write.code(), StatusCode::kPermissionDenied) << write.ToString();
  st->reset();
  EXPECT_EQ(RawInt(path, "PRAGMA user_version"), 1);
  EXPECT_EQ(RawText(path, "PRAGMA journal_mode"), "delete");
}

TEST_F(RetentionTest, PathsThatAreNotRegularFilesAreRefusedWithoutOpeningThem) {
  std::string fifo = Path("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (bool read_only : {false, true}) {
    for (const std::string& path : {std::string("/dev/null"), fifo, Path("")}) {
      StoreOptions options;
      options.read_only = read_only;
      auto st = OpenSqliteStore(path, options);  // a FIFO would block an open(): never reached
      ASSERT_FALSE(st.ok()) << path;
      EXPECT_EQ(st.status().code(), StatusCode::kInvalidArgument) << path;
      EXPECT_NE(st.status().message().find("state file " + path + " is not a regular file"),
                std::string::npos)
          << st.status().message();
    }
  }
}

// Someone else's store (root's, mode 0644 in a directory this user cannot write): read-only
// opens still read it. The check runs in a child that drops to nobody.
TEST_F(RetentionTest, ReadOnlyReadsAStoreThisUserCannotWrite) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop to another user";
  std::string dir = Path("shared");
  std::filesystem::create_directories(dir);
  std::string path = dir + "/state.db";
  {
    StateStore& s = OpenWith(path);
    AddRun(s, "apply", "ok", R"({"applied": 1})");
    CloseAll();
    stores_.clear();
  }
  files_.clear();
  ASSERT_FALSE(std::filesystem::exists(path + "-shm"));  // the last close removed it
  for (std::string p = dir; p.size() > 1; p = std::filesystem::path(p).parent_path().string()) {
    ::chmod(p.c_str(), 0755);
    if (p == "/tmp") break;
  }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    auto st = OpenReadOnly(path);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.status().ToString().c_str());
      ::_exit(4);
    }
    auto runs = (*st)->RecentRuns(5);
    ::_exit(runs.ok() && runs->size() == 1 ? 0 : 5);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace galley::store
