// SPDX-License-Identifier: Apache-2.0
// The state file itself: migrations, WAL, permissions, refusing files galley cannot use,
// contention between connections and processes, and a SIGKILL in the middle of writes.
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/migrations.h"
#include "store/sqlite_db.h"
#include "store/state_store.h"
#include "store_fixture.h"

namespace galley::store {
namespace {

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(MigrationsTest, AreEmbeddedInOrder) {
  auto migrations = Migrations();
  ASSERT_FALSE(migrations.empty());
  for (size_t i = 0; i < migrations.size(); ++i) {
    EXPECT_EQ(migrations[i].version, static_cast<int>(i + 1));
    EXPECT_TRUE(Contains(migrations[i].sql, "CREATE") || i > 0);
  }
  EXPECT_STREQ(migrations[0].name, "0001_initial");
  EXPECT_TRUE(Contains(migrations[0].sql, "CREATE TABLE runs"));
}

// Many PRAGMAs act when compiled, not when stepped: the per-transaction synchronous=FULL
// of the apply record must act every time it runs, not only the first.
TEST(ConnectionTest, PragmasActEveryTimeTheyRun) {
  auto conn = internal::Connection::Open(":memory:", 1000);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  auto synchronous = [&]() -> int64_t {
    auto q = (*conn)->Prepare("PRAGMA synchronous", "test");
    EXPECT_TRUE(q.ok());
    auto row = q->Step();
    EXPECT_TRUE(row.ok() && *row);
    return q->Int(0);
  };
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*conn)->Run("PRAGMA synchronous = FULL", "test").ok());
    EXPECT_EQ(synchronous(), 2);
    ASSERT_TRUE((*conn)->Run("PRAGMA synchronous = NORMAL", "test").ok());
    EXPECT_EQ(synchronous(), 1);
  }
}

TEST_F(StoreTest, MigratesAFreshFileOnceAndKeepsDataOnReopen) {
  std::string path = Path("state/galley/state.db");
  const int newest = static_cast<int>(Migrations().size());
  int64_t run = 0;
  {
    StateStore& s = Open(path);
    EXPECT_EQ(*s.SchemaVersion(), newest);
    auto r = s.BeginRun("plan", "cli", "c", "w");
    ASSERT_TRUE(r.ok());
    run = *r;
  }
  CloseAll();
  EXPECT_EQ(RawInt(path, "PRAGMA user_version"), newest);
  StateStore& again = Open(path);
  EXPECT_EQ(*again.SchemaVersion(), newest);
  auto runs = again.RecentRuns(10);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].id, run);
  EXPECT_EQ(
      RawInt(path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'runs'"), 1);
  EXPECT_EQ(RawInt(path, "PRAGMA application_id"), 0x47414c4c);
}

TEST_F(StoreTest, FilesUseWalAndArePrivate) {
  std::string dir = Path("xdg/galley");
  std::string path = dir + "/state.db";
  StateStore& s = Open(path);
  ASSERT_TRUE(s.BeginRun("plan", "cli", "", "").ok());
  EXPECT_EQ(RawText(path, "PRAGMA journal_mode"), "wal");
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(Path("xdg").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((path + "-wal").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
}

TEST_F(StoreTest, InMemoryStoresArePrivateAndMigrated) {
  StateStore& a = Open(":memory:");
  StateStore& b = Open(":memory:");
  EXPECT_EQ(*a.SchemaVersion(), static_cast<int>(Migrations().size()));
  ASSERT_TRUE(a.BeginRun("plan", "cli", "", "").ok());
  EXPECT_EQ(a.RecentRuns(5)->size(), 1u);
  EXPECT_EQ(b.RecentRuns(5)->size(), 0u);
}

TEST_F(StoreTest, RefusesASchemaNewerThanThisGalley) {
  std::string path = Path("new.db");
  Open(path);
  CloseAll();
  const size_t known = Migrations().size();
  RawText(path, "PRAGMA user_version = " + std::to_string(known + 5));
  auto store = OpenSqliteStore(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().message(), "state file " + path + " has schema version " +
                                          std::to_string(known + 5) + ", this galley knows up to " +
                                          std::to_string(known) + "; upgrade galley");
  // Untouched: still the newer version.
  EXPECT_EQ(RawInt(path, "PRAGMA user_version"), static_cast<int64_t>(known + 5));
}

TEST_F(StoreTest, RefusesAFileThatIsNotSqlite) {
  std::string path = Path("notes.txt");
  {
    std::ofstream out(path);
    for (int i = 0; i < 100; ++i) out << "this is not a database, just some notes\n";
  }
  auto store = OpenSqliteStore(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      Contains(store.status().message(), "state file " + path + " is not an SQLite database"))
      << store.status().message();
}

TEST_F(StoreTest, RefusesAnotherApplicationsDatabase) {
  std::string path = Path("other.db");
  RawText(path, "PRAGMA journal_mode");  // creates the file
  RawText(path, "CREATE TABLE runs (x)");
  auto store = OpenSqliteStore(path);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(Contains(store.status().message(), "galley did not create"))
      << store.status().message();
  Track(path);
}

TEST_F(StoreTest, ReportsUnwritableLocations) {
  std::string blocker = Path("file");
  std::ofstream(blocker) << "x";
  auto store = OpenSqliteStore(blocker + "/sub/state.db");
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(Contains(store.status().message(), blocker)) << store.status().message();
}

TEST_F(StoreTest, BusyBeyondTheTimeoutIsUnavailable) {
  std::string path = Path("busy.db");
  StateStore& s = Open(path, /*busy_timeout_ms=*/100);
  auto run = s.BeginRun("plan", "cli", "", "");
  ASSERT_TRUE(run.ok());

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &other, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto blocked = s.BeginRun("plan", "cli", "", "");
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(
      Contains(blocked.status().message(), "state store " + path + " is busy (another galley?)"))
      << blocked.status().message();
  // Readers are not blocked by a writer in WAL mode.
  auto runs = s.RecentRuns(10);
  ASSERT_TRUE(runs.ok()) << runs.status().ToString();
  EXPECT_EQ(runs->size(), 1u);
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close_v2(other);
  EXPECT_TRUE(s.BeginRun("plan", "cli", "", "").ok());
}

TEST_F(StoreTest, ConcurrentWritersLoseNothing) {
  std::string path = Path("concurrent.db");
  StateStore& a = Open(path);
  StateStore& b = Open(path);
  constexpr int kRuns = 40;
  constexpr int kPerRun = 5;
  auto writer = [&](StateStore* s, std::string name, std::vector<Status>* errors) {
    for (int i = 0; i < kRuns; ++i) {
      auto run = s->BeginRun("drift", "timer", "", name);
      if (!run.ok()) {
        errors->push_back(run.status());
        continue;
      }
      std::vector<Observation> obs;
      for (int k = 0; k < kPerRun; ++k) {
        obs.push_back({name + "/" + std::to_string(k), std::to_string(i), std::to_string(i), "{}"});
      }
      Status st = s->RecordObservations(*run, obs);
      if (!st.ok()) errors->push_back(st);
      st = s->FinishRun(*run, "ok", "{}");
      if (!st.ok()) errors->push_back(st);
    }
  };
  std::vector<Status> errors_a, errors_b, errors_c;
  std::thread ta(writer, &a, "a", &errors_a);
  std::thread tb(writer, &b, "b", &errors_b);
  std::thread tc(writer, &a, "c", &errors_c);  // a second thread on the same store object
  ta.join();
  tb.join();
  tc.join();
  for (const auto* errors : {&errors_a, &errors_b, &errors_c}) {
    for (const Status& st : *errors) ADD_FAILURE() << st.ToString();
  }
  EXPECT_EQ(RawInt(path, "SELECT count(*) FROM runs WHERE outcome = 'ok'"), 3 * kRuns);
  EXPECT_EQ(RawInt(path, "SELECT count(*) FROM observations"), 3 * kRuns * kPerRun);
  auto latest = b.LatestObservations();
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 3u * kPerRun);
  for (const auto& [key, obs] : *latest) EXPECT_EQ(obs.token, std::to_string(kRuns - 1)) << key;
}

// A child process opens the store, begins a run and writes observation batches in a loop
// until it is SIGKILLed mid-way. Afterwards the file is intact, the run is interrupted and
// every batch (one transaction) is there entirely or not at all.
TEST_F(StoreTest, SurvivesSigkillInTheMiddleOfWrites) {
  std::string path = Path("crash/state.db");
  constexpr int kPerBatch = 25;
  constexpr int kBatchesBeforeKill = 30;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::alarm(60);  // never outlive a broken parent
    auto store = OpenSqliteStore(path);
    if (!store.ok()) ::_exit(2);
    auto run = (*store)->BeginRun("apply", "cli", "abc", "crash@test");
    if (!run.ok()) ::_exit(3);
    std::string body(4000, 'x');
    for (int batch = 0;; ++batch) {
      std::vector<Observation> obs;
      for (int i = 0; i < kPerBatch; ++i) {
        obs.push_back({"marathon-app:/app/" + std::to_string(i), "h" + std::to_string(batch),
                       std::to_string(batch), body});
      }
      if (!(*store)->RecordObservations(*run, obs).ok()) ::_exit(4);
      char b = 'b';
      if (::write(fds[1], &b, 1) != 1) ::_exit(5);
    }
  }
  ::close(fds[1]);
  int seen = 0;
  char buf[64];
  while (seen < kBatchesBeforeKill) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    seen += static_cast<int>(n);
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ::close(fds[0]);
  ASSERT_GE(seen, kBatchesBeforeKill) << "child exited early, status " << status;
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

  StateStore& s = Open(path);
  EXPECT_EQ(*s.IntegrityCheck(), "ok");
  ASSERT_TRUE(s.MarkInterruptedRuns().ok());
  auto runs = s.RecentRuns(5);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].outcome, "interrupted");
  EXPECT_NE((*runs)[0].finished_at, "");

  int64_t rows = RawInt(path, "SELECT count(*) FROM observations");
  EXPECT_EQ(rows % kPerBatch, 0) << rows << " rows is not whole batches";
  EXPECT_GE(rows, int64_t{kPerBatch} * seen);
  int64_t batches = rows / kPerBatch;
  // Every resource's newest observation is from the last committed batch, whole.
  auto latest = s.LatestObservations();
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), static_cast<size_t>(kPerBatch));
  for (const auto& [key, obs] : *latest) {
    EXPECT_EQ(obs.token, std::to_string(batches - 1)) << key;
    EXPECT_EQ(obs.body.size(), 4000u) << key;
  }
  EXPECT_EQ(RawInt(path, "SELECT count(*) FROM observations WHERE length(body) != 4000"), 0);
}

}  // namespace
}  // namespace galley::store
