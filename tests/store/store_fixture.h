// SPDX-License-Identifier: Apache-2.0
// StoreTest: a fixture for state store tests. It opens stores in a temporary directory
// (or in memory), gives them a shared fake clock, and in TearDown asserts that every
// store it opened and every file it tracked passes PRAGMA integrity_check. Raw* helpers
// reach the file through a separate SQLite connection, as another process would.
// Not thread-safe: use from the test's main thread (stores themselves are thread-safe).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "store/state_store.h"
#include "support/temp_repo.h"

namespace galley::store {

// A wall clock that moves only when told; starts at 2026-11-27T12:00:00.000Z.
class FakeClock : public galley::Clock {
 public:
  std::chrono::system_clock::time_point WallNow() override {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms_.load()));
  }
  void Advance(std::chrono::milliseconds d) { ms_ += d.count(); }

 private:
  std::atomic<int64_t> ms_{1795780800000};  // 2026-11-27T12:00:00Z
};

class StoreTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& s : stores_) {
      if (s == nullptr) continue;
      auto report = s->IntegrityCheck();
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      EXPECT_EQ(*report, "ok");
    }
    stores_.clear();
    for (const std::string& path : files_)
      EXPECT_EQ(RawText(path, "PRAGMA integrity_check"), "ok") << path;
  }

  std::string Path(const std::string& relative) { return repo_.Path(relative); }

  // Opens a store on `path` with the fake clock; the fixture keeps it until TearDown.
  StateStore& Open(const std::string& path, int busy_timeout_ms = 5000) {
    StoreOptions options;
    options.clock = &clock_;
    options.busy_timeout_ms = busy_timeout_ms;
    auto store = OpenSqliteStore(path, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) throw std::runtime_error(store.status().ToString());
    if (path != ":memory:") Track(path);
    stores_.push_back(std::move(store).value());
    return *stores_.back();
  }

  // Closes every store opened so far (their integrity is checked first).
  void CloseAll() {
    for (auto& s : stores_) {
      auto report = s->IntegrityCheck();
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      EXPECT_EQ(*report, "ok");
    }
    stores_.clear();
  }

  void Track(const std::string& path) {
    for (const auto& p : files_) {
      if (p == path) return;
    }
    files_.push_back(path);
  }

  // Runs `sql` on `path` through a separate connection; returns the first column of the
  // first row as text ("" when none). Fails the test on an SQLite error.
  static std::string RawText(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    int rc =
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    std::string out;
    if (rc == SQLITE_OK) {
      sqlite3_busy_timeout(db, 5000);
      sqlite3_stmt* stmt = nullptr;
      rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
      if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
          const unsigned char* text = sqlite3_column_text(stmt, 0);
          if (text != nullptr) out = reinterpret_cast<const char*>(text);
          rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
          rc = SQLITE_OK;
        }
      }
      sqlite3_finalize(stmt);
    }
    EXPECT_EQ(rc, SQLITE_OK) << path << ": " << sql << ": " << sqlite3_errmsg(db);
    sqlite3_close_v2(db);
    return out;
  }
  static int64_t RawInt(const std::string& path, const std::string& sql) {
    std::string text = RawText(path, sql);
    return text.empty() ? 0 : std::stoll(text);
  }

  testing::TempRepo repo_;
  FakeClock clock_;
  std::vector<std::unique_ptr<StateStore>> stores_;
  std::vector<std::string> files_;
};

}  // namespace galley::store
