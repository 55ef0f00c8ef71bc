#include "store/sqlite.h"

#include <sqlite3.h>

namespace txmail::store::sqlite {

namespace {

// Statements are quoted in errors up to this length (a schema is longer than a log line).
constexpr std::size_t kQuoted = 160;

std::string quoted(std::string_view sql) {
  std::string out(sql.substr(0, kQuoted));
  if (sql.size() > kQuoted) {
    out += "...";
  }
  return out;
}

const char* synchronous_pragma(OpenOptions::Synchronous s) {
  switch (s) {
    case OpenOptions::Synchronous::kDefault:
      return "";
    case OpenOptions::Synchronous::kNormal:
      return "PRAGMA synchronous=NORMAL;";
    case OpenOptions::Synchronous::kFull:
      return "PRAGMA synchronous=FULL;";
  }
  return "";
}

}  // namespace

ErrorCode code_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      return ErrorCode::kIo;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ErrorCode::kCorrupt;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ErrorCode::kUnavailable;
    default:
      return ErrorCode::kInternal;
  }
}

// --- Db ------------------------------------------------------------------------------------

Result<Db> Db::open(const std::string& path, const std::string& what, const OpenOptions& options) {
  int flags = options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  flags |= options.serialized ? SQLITE_OPEN_FULLMUTEX : SQLITE_OPEN_NOMUTEX;
  sqlite3* handle = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  Db db(handle, what + " " + path);  // closes the handle, if any, whatever happens next
  if (rc != SQLITE_OK) {
    return tl::unexpected(db.error(rc, "open"));
  }
  sqlite3_extended_result_codes(handle, 1);
  if (options.busy_timeout_ms > 0) {
    sqlite3_busy_timeout(handle, options.busy_timeout_ms);
  }
  std::string setup = options.wal ? "PRAGMA journal_mode=WAL;" : "";
  setup += synchronous_pragma(options.synchronous);
  setup += options.schema;
  if (!setup.empty()) {
    if (auto done = db.exec(setup); !done) {
      return tl::unexpected(done.error());
    }
  }
  return db;
}

Db::~Db() {
  sqlite3_close(db_);
}

Db& Db::operator=(Db&& other) noexcept {
  if (this != &other) {
    sqlite3_close(db_);
    db_ = std::exchange(other.db_, nullptr);
    name_ = std::move(other.name_);
  }
  return *this;
}

Result<void> Db::exec(std::string_view sql) {
  char* message = nullptr;
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) {
    return {};
  }
  std::string detail = message != nullptr ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return make_error(code_of(rc), name_ + ": " + quoted(sql) + ": " + detail);
}

std::int64_t Db::changes() const {
  return sqlite3_changes64(db_);
}

Error Db::error(int rc, std::string_view sql) const {
  // sqlite3_errmsg is about the latest call on this connection, which failed with rc; when
  // there is no connection (out of memory at open) only the code tells.
  const char* message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  return Error{code_of(rc), name_ + ": " + quoted(sql) + ": " + message};
}

// --- Statement -----------------------------------------------------------------------------

Statement::Statement(Db& db, std::string sql) : db_(db), sql_(std::move(sql)) {
  const int rc =
      sqlite3_prepare_v2(db_.handle(), sql_.c_str(), static_cast<int>(sql_.size()), &st_, nullptr);
  if (rc != SQLITE_OK) {
    error_ = db_.error(rc, sql_);
  } else if (st_ == nullptr) {
    error_ = Error{ErrorCode::kInternal, db_.name() + ": no statement in: " + quoted(sql_)};
  }
}

Statement::~Statement() {
  sqlite3_finalize(st_);
}

Statement& Statement::checked(int rc) {
  if (rc != SQLITE_OK && !error_) {
    error_ = db_.error(rc, sql_);
  }
  return *this;
}

Statement& Statement::bind(int i, std::string_view text) {
  return checked(
      sqlite3_bind_text64(st_, i, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
}

Statement& Statement::bind_blob(int i, std::string_view bytes) {
  return checked(sqlite3_bind_blob64(st_, i, bytes.data(), bytes.size(), SQLITE_TRANSIENT));
}

Statement& Statement::bind(int i, std::int64_t value) {
  return checked(sqlite3_bind_int64(st_, i, value));
}

Statement& Statement::bind_null(int i) {
  return checked(sqlite3_bind_null(st_, i));
}

Result<bool> Statement::step() {
  if (error_) {
    return tl::unexpected(*error_);
  }
  const int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  return tl::unexpected(db_.error(rc, sql_));
}

Result<void> Statement::run() {
  return each([] {});
}

void Statement::reset() {
  // What the last step returned was reported by it; reset only repeats it.
  sqlite3_reset(st_);
}

std::string Statement::text(int col) const {
  // The bytes first, then their length (sqlite3_column_bytes after a conversion).
  const auto* p = static_cast<const char*>(sqlite3_column_blob(st_, col));
  return p == nullptr ? std::string()
                      : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st_, col)));
}

std::int64_t Statement::int64(int col) const {
  return sqlite3_column_int64(st_, col);
}

bool Statement::is_null(int col) const {
  return sqlite3_column_type(st_, col) == SQLITE_NULL;
}

// --- Transaction ---------------------------------------------------------------------------

Result<Transaction> Transaction::begin(Db& db) {
  if (auto begun = db.exec("BEGIN IMMEDIATE"); !begun) {
    return tl::unexpected(begun.error());
  }
  return Transaction(db);
}

Transaction::~Transaction() {
  // A failed statement may have ended the transaction already (SQLITE_FULL, IOERR): then
  // there is nothing to roll back.
  if (open_ && sqlite3_get_autocommit(db_->handle()) == 0) {
    sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

Result<void> Transaction::commit() {
  auto done = db_->exec("COMMIT");
  if (done) {
    open_ = false;
  }
  return done;
}

}  // namespace txmail::store::sqlite
