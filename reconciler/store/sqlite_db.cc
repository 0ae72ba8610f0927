// SPDX-License-Identifier: Apache-2.0
#include "store/sqlite_db.h"

#include <cctype>
#include <utility>

namespace galley::store::internal {

Status SqliteStatus(sqlite3* db, int rc, const std::string& path, std::string_view what) {
  std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string where = "state store " + path + ": " + std::string(what) + ": ";
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable("state store " + path + " is busy (another galley?): " +
                                 std::string(what) + ": " + detail);
    case SQLITE_NOTADB:
      return Status::InvalidArgument("state file " + path + " is not an SQLite database (" +
                                     detail + ")");
    case SQLITE_CORRUPT:
      return Status::Internal("state file " + path + " is corrupt: " + std::string(what) + ": " +
                              detail);
    case SQLITE_CONSTRAINT:
      switch (rc) {
        case SQLITE_CONSTRAINT_UNIQUE:
        case SQLITE_CONSTRAINT_PRIMARYKEY:
          return Status::AlreadyExists(where + detail);
        case SQLITE_CONSTRAINT_FOREIGNKEY:
          return Status::NotFound(where + detail);
        default:  // CHECK, NOT NULL: a value outside the schema's enums
          return Status::InvalidArgument(where + detail);
      }
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Status::PermissionDenied(where + detail);
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_PROTOCOL:
      return Status::Unavailable(where + detail);
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
      return Status::InvalidArgument(where + detail);
    default:
      return Status::Internal(where + detail);
  }
}

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Statement::Statement(Statement&& other) noexcept
    : conn_(other.conn_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      what_(other.what_),
      owned_(std::move(other.owned_)),
      bind_rc_(other.bind_rc_) {}

Statement& Statement::BindText(int index, std::string_view value) {
  int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::BindTextNoCopy(int index, std::string_view value) {
  const char* data = value.empty() ? "" : value.data();  // a null pointer would bind NULL
  int rc = sqlite3_bind_text64(stmt_, index, data, value.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::BindTextOrNull(int index, std::string_view value) {
  if (!value.empty()) return BindText(index, value);
  int rc = sqlite3_bind_null(stmt_, index);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::BindInt(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::BindIdOrNull(int index, int64_t value) {
  if (value != 0) return BindInt(index, value);
  int rc = sqlite3_bind_null(stmt_, index);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Result<bool> Statement::Step() {
  if (bind_rc_ != SQLITE_OK) return conn_->Error(bind_rc_, what_);
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return conn_->Error(rc, what_);
}

Status Statement::Run() {
  while (true) {
    Result<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
  }
}

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, int busy_timeout_ms,
                                                     Mode mode) {
  sqlite3* raw = nullptr;
  // NOMUTEX: the store serialises every use of the connection with its own mutex.
  int flags =
      mode == Mode::kReadWrite ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
  std::string name = path;
  if (mode == Mode::kImmutable) {
    // A URI: the path percent-encoded but for unreserved characters and '/'.
    static const char kHex[] = "0123456789ABCDEF";
    name = "file:";
    for (unsigned char c : path) {
      if (std::isalnum(c) || c == '/' || c == '.' || c == '-' || c == '_' || c == '~') {
        name += static_cast<char>(c);
      } else {
        name += '%';
        name += kHex[c >> 4];
        name += kHex[c & 15];
      }
    }
    name += "?immutable=1";
    flags |= SQLITE_OPEN_URI;
  }
  int rc = sqlite3_open_v2(name.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) return SqliteStatus(db.get(), rc, path, "open");
  sqlite3_extended_result_codes(db.get(), 1);
  rc = sqlite3_busy_timeout(db.get(), busy_timeout_ms);
  if (rc != SQLITE_OK) return SqliteStatus(db.get(), rc, path, "busy_timeout");
  return std::unique_ptr<Connection>(new Connection(std::move(db), path));
}

Result<Statement> Connection::Prepare(std::string_view sql, std::string_view what) {
  const bool cache = sql.substr(0, 6) != "PRAGMA";
  if (cache) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return Statement(this, it->second.get(), what);
  }
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                              cache ? SQLITE_PREPARE_PERSISTENT : 0, &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) return Error(rc, what);
  if (stmt == nullptr)
    return Status::Internal("state store " + path_ + ": " + std::string(what) + ": empty SQL");
  if (!cache) return Statement(this, std::move(stmt), what);
  auto it = cache_.emplace(std::string(sql), std::move(stmt)).first;
  return Statement(this, it->second.get(), what);
}

Status Connection::Run(std::string_view sql, std::string_view what) {
  ASSIGN_OR_RETURN(Statement stmt, Prepare(sql, what));
  return stmt.Run();
}

Status Connection::Exec(const std::string& script, std::string_view what) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_.get(), script.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);  // sqlite3_errmsg still holds the message
  if (rc != SQLITE_OK) return Error(rc, what);
  return Status::Ok();
}

void Connection::RollbackQuietly() {
  if (sqlite3_get_autocommit(db_.get()) == 0) (void)Run("ROLLBACK", "rollback");
}

}  // namespace galley::store::internal
