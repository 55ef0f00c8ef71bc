// The one SQLite wrapper (issue quality-1, defect 2): every SQLite file of a node goes through
// it: the webhook dispatcher's state, the event log, the idempotency store and the config
// store. Nothing is written unchecked: a step that is neither a row nor done, a failed
// prepare or bind, BEGIN and COMMIT all come back as an Error with the statement's text and
// sqlite3_errmsg, its code from sqlite::code_of (kIo for a full disk, an I/O error, a file
// that cannot be opened or written; kCorrupt for a damaged file; kUnavailable for a lock held
// too long; kInternal otherwise, e.g. a constraint).
//
// A Db is one connection, used by one thread at a time (its owner holds its own mutex). A
// Statement is prepared on a Db and reports a failed prepare at its first step. A Transaction
// is BEGIN IMMEDIATE; it rolls back when it goes without a successful commit().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace txmail::store::sqlite {

// SQLite's result code (primary or extended) as one of ours.
ErrorCode code_of(int rc);

struct OpenOptions {
  enum class Synchronous { kDefault, kNormal, kFull };
  bool read_only = false;  // else read-write, created when missing
  bool wal = false;        // PRAGMA journal_mode=WAL
  Synchronous synchronous = Synchronous::kDefault;
  bool serialized = false;  // SQLite's own mutex (SQLITE_OPEN_FULLMUTEX); else none
  int busy_timeout_ms = 0;  // 0: a locked database fails at once
  std::string schema;       // run after the pragmas (CREATE TABLE IF NOT EXISTS ...)
};

class Db {
 public:
  // What it names itself in errors: "<what> <path>".
  static Result<Db> open(const std::string& path, const std::string& what,
                         const OpenOptions& options);
  Db() = default;
  ~Db();

  Db(Db&& other) noexcept : db_(std::exchange(other.db_, nullptr)), name_(std::move(other.name_)) {}

  Db& operator=(Db&& other) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Plain SQL, one or more statements, no parameters.
  Result<void> exec(std::string_view sql);
  // Rows changed by the last INSERT, UPDATE or DELETE.
  std::int64_t changes() const;

  sqlite3* handle() const { return db_; }

  const std::string& name() const { return name_; }

  // The error of a call that returned `rc` on this connection, about `sql`.
  Error error(int rc, std::string_view sql) const;

 private:
  Db(sqlite3* db, std::string name) : db_(db), name_(std::move(name)) {}

  sqlite3* db_ = nullptr;
  std::string name_;
};

class Statement {
 public:
  Statement(Db& db, std::string sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&&) = delete;
  Statement& operator=(Statement&&) = delete;

  // Parameters count from 1. A failed bind is reported by the next step().
  Statement& bind(int i, std::string_view text);
  Statement& bind_blob(int i, std::string_view bytes);
  Statement& bind(int i, std::int64_t value);
  Statement& bind_null(int i);

  // true: a row is ready to read; false: done.
  Result<bool> step();
  // Steps to the end (an INSERT, UPDATE or DELETE).
  Result<void> run();

  // Calls row() for each row, then done; the first error stops it.
  template <typename F>
  Result<void> each(F&& row) {
    for (;;) {
      auto more = step();
      if (!more) {
        return tl::unexpected(more.error());
      }
      if (!*more) {
        return {};
      }
      row();
    }
  }

  // Ready to step again from the start, with new bindings (the old ones stay until replaced).
  void reset();

  // Columns of the current row, counted from 0. A NULL reads as "" or 0.
  std::string text(int col) const;
  std::int64_t int64(int col) const;
  bool is_null(int col) const;

 private:
  Statement& checked(int rc);

  Db& db_;
  std::string sql_;
  sqlite3_stmt* st_ = nullptr;
  std::optional<Error> error_;  // from prepare or bind: the next step returns it
};

class Transaction {
 public:
  // BEGIN IMMEDIATE: the write lock is taken now, not at the first write.
  static Result<Transaction> begin(Db& db);
  ~Transaction();

  Transaction(Transaction&& other) noexcept
      : db_(std::exchange(other.db_, nullptr)), open_(std::exchange(other.open_, false)) {}

  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Result<void> commit();

 private:
  explicit Transaction(Db& db) : db_(&db) {}

  Db* db_;
  bool open_{true};
};

}  // namespace txmail::store::sqlite
