// SPDX-License-Identifier: Apache-2.0
// Thin RAII layer over the SQLite C API for the state store: a Connection owns a sqlite3*
// and a cache of prepared statements; a Statement borrows one, binds parameters and steps
// it, and resets it when it goes out of scope. Every failure becomes a Status that names
// the file ("state store /x/state.db: BeginRun: ..."); SQLITE_BUSY after the busy timeout
// becomes kUnavailable "state store X is busy (another galley?)".
// Private to store/. Not thread-safe: the owner serialises all use of a Connection.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <sqlite3.h>

#include "base/status.h"

namespace galley::store::internal {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// The Status for SQLite result code `rc` during `what` on the file `path`, with the
// connection's error message when `db` is given.
Status SqliteStatus(sqlite3* db, int rc, const std::string& path, std::string_view what);

class Connection;

// A prepared statement borrowed from a Connection's cache. Bind* calls are positional
// (1-based); a bind failure is reported by the next Step/Run. Move-only.
class Statement {
 public:
  Statement(Connection* conn, sqlite3_stmt* stmt, std::string_view what)
      : conn_(conn), stmt_(stmt), what_(what) {}
  // A statement of its own (not cached), finalized with the Statement.
  Statement(Connection* conn, StmtPtr owned, std::string_view what)
      : conn_(conn), stmt_(owned.get()), what_(what), owned_(std::move(owned)) {}
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& BindText(int index, std::string_view value);
  // Without a copy: `value` must stay unchanged until the statement is stepped for the last
  // time and destroyed (a saved plan is tens of megabytes at 2,000 services x 3 environments).
  Statement& BindTextNoCopy(int index, std::string_view value);
  // Binds NULL for an empty string (columns where NULL means "not set").
  Statement& BindTextOrNull(int index, std::string_view value);
  Statement& BindInt(int index, int64_t value);
  // Binds NULL for 0 (ids where 0 means "none").
  Statement& BindIdOrNull(int index, int64_t value);

  // Steps once: true when a row is ready, false when done.
  Result<bool> Step();
  // Steps to completion, ignoring rows.
  Status Run();

  // Column accessors for the current row; NULL reads as "" / 0.
  std::string Text(int column) const;
  int64_t Int(int column) const;
  bool IsNull(int column) const;

 private:
  Connection* conn_;
  sqlite3_stmt* stmt_;
  std::string_view what_;
  StmtPtr owned_;  // set for uncached statements
  int bind_rc_ = SQLITE_OK;
};

class Connection {
 public:
  enum class Mode {
    kReadWrite,  // creating the file
    kReadOnly,
    // Read-only and assuming nobody writes meanwhile (SQLite's immutable=1): for a WAL file
    // this user cannot write whose -shm file does not exist and cannot be created.
    kImmutable,
  };
  // Opens `path` with extended result codes and the busy timeout.
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, int busy_timeout_ms,
                                                  Mode mode = Mode::kReadWrite);

  // The cached prepared statement for `sql` (one statement). `what` names the caller in
  // errors and must outlive the Statement (a string literal). PRAGMAs are not cached:
  // many act (or read their value) when compiled, so SQLite expires them after one run
  // and would re-prepare them anyway.
  Result<Statement> Prepare(std::string_view sql, std::string_view what);
  // Prepares, runs and resets one statement.
  Status Run(std::string_view sql, std::string_view what);
  // Runs a script of several statements (migrations), uncached.
  Status Exec(const std::string& script, std::string_view what);
  // Rolls back when a transaction is open; errors are ignored (the transaction may
  // already be gone: SQLite rolls back by itself after some errors).
  void RollbackQuietly();

  Status Error(int rc, std::string_view what) const {
    return SqliteStatus(db_.get(), rc, path_, what);
  }
  sqlite3* raw() const { return db_.get(); }
  const std::string& path() const { return path_; }

 private:
  Connection(DbPtr db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}

  DbPtr db_;  // declared first: destroyed after the statements in cache_
  std::string path_;
  std::map<std::string, StmtPtr, std::less<>> cache_;
};

}  // namespace galley::store::internal
