#include "store/sqlite.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace txmail::store::sqlite {
namespace {

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path()
           / ("txmail-sqlite-" + std::to_string(::getpid()) + "-"
              + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }

  void TearDown() override {
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all);
    std::filesystem::remove_all(dir_);
  }

  std::string path(const char* name = "t.db") const { return (dir_ / name).string(); }

  Db open_checked(OpenOptions options = {}) {
    if (options.schema.empty()) {
      options.schema = "CREATE TABLE IF NOT EXISTS t (x INTEGER CHECK (x > 0), s TEXT);";
    }
    auto db = Db::open(path(), "test", options);
    EXPECT_TRUE(db) << db.error().detail;
    return db ? std::move(*db) : Db();
  }

  static std::int64_t count(Db& db) {
    Statement q(db, "SELECT count(*) FROM t");
    auto row = q.step();
    EXPECT_TRUE(row && *row);
    return q.int64(0);
  }

  std::filesystem::path dir_;
};

TEST(SqliteCodes, EveryResultCodeHasItsErrorCode) {
  const struct {
    int rc;
    ErrorCode code;
  } table[] = {
      {SQLITE_FULL, ErrorCode::kIo},
      {SQLITE_IOERR, ErrorCode::kIo},
      {SQLITE_IOERR_FSYNC, ErrorCode::kIo},  // extended codes by their primary code
      {SQLITE_CANTOPEN, ErrorCode::kIo},
      {SQLITE_READONLY, ErrorCode::kIo},
      {SQLITE_READONLY_DBMOVED, ErrorCode::kIo},
      {SQLITE_CORRUPT, ErrorCode::kCorrupt},
      {SQLITE_NOTADB, ErrorCode::kCorrupt},
      {SQLITE_BUSY, ErrorCode::kUnavailable},
      {SQLITE_BUSY_SNAPSHOT, ErrorCode::kUnavailable},
      {SQLITE_LOCKED, ErrorCode::kUnavailable},
      {SQLITE_CONSTRAINT, ErrorCode::kInternal},
      {SQLITE_CONSTRAINT_CHECK, ErrorCode::kInternal},
      {SQLITE_ERROR, ErrorCode::kInternal},
      {SQLITE_MISUSE, ErrorCode::kInternal},
      {SQLITE_RANGE, ErrorCode::kInternal},
  };

  for (const auto& row : table) {
    EXPECT_EQ(code_of(row.rc), row.code) << sqlite3_errstr(row.rc);
  }
}

TEST_F(SqliteTest, WritesAndReadsRows) {
  Db db = open_checked();
  Statement ins(db, "INSERT INTO t (x, s) VALUES (?, ?)");
  ASSERT_TRUE(ins.bind(1, std::int64_t{7}).bind(2, std::string_view("seven")).run());
  ins.reset();
  ASSERT_TRUE(ins.bind(1, std::int64_t{8}).bind_null(2).run());
  EXPECT_EQ(db.changes(), 1);
  Statement q(db, "SELECT x, s FROM t ORDER BY x");
  std::vector<std::pair<std::int64_t, std::string>> rows;
  bool null_seen = false;
  ASSERT_TRUE(q.each([&] {
    rows.emplace_back(q.int64(0), q.text(1));
    null_seen = null_seen || q.is_null(1);
  }));
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(rows[0], std::make_pair(std::int64_t{7}, std::string("seven")));
  EXPECT_EQ(rows[1], std::make_pair(std::int64_t{8}, std::string()));  // NULL reads as ""
  EXPECT_TRUE(null_seen);
  auto done = q.step();  // stepped to the end: stays done
  ASSERT_TRUE(done);
}

TEST_F(SqliteTest, BlobsKeepEveryByte) {
  Db db = open_checked();
  const std::string bytes("a\0b\xff", 4);
  Statement ins(db, "INSERT INTO t (x, s) VALUES (1, ?)");
  ASSERT_TRUE(ins.bind_blob(1, bytes).run());
  Statement q(db, "SELECT s, typeof(s) FROM t");
  auto row = q.step();
  ASSERT_TRUE(row && *row);
  EXPECT_EQ(q.text(0), bytes);
  EXPECT_EQ(q.text(1), "blob");
}

TEST_F(SqliteTest, ConstraintFailureIsAnErrorWithTheStatementAndSqlitesMessage) {
  Db db = open_checked();
  Statement ins(db, "INSERT INTO t (x) VALUES (?)");
  auto done = ins.bind(1, std::int64_t{-1}).run();
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().code, ErrorCode::kInternal);
  EXPECT_NE(done.error().detail.find("INSERT INTO t (x) VALUES (?)"), std::string::npos)
      << done.error().detail;
  EXPECT_NE(done.error().detail.find("CHECK constraint failed"), std::string::npos)
      << done.error().detail;
  EXPECT_NE(done.error().detail.find(path()), std::string::npos) << done.error().detail;
}

TEST_F(SqliteTest, PrepareAndBindFailuresComeBackFromStep) {
  Db db = open_checked();
  Statement bad(db, "SELECT nope FROM t");
  auto row = bad.step();
  ASSERT_FALSE(row);
  EXPECT_NE(row.error().detail.find("no such column"), std::string::npos) << row.error().detail;
  Statement range(db, "INSERT INTO t (x) VALUES (?)");
  auto done = range.bind(1, std::int64_t{1}).bind(2, std::int64_t{2}).run();  // no parameter 2
  ASSERT_FALSE(done);
  EXPECT_EQ(count(db), 0);  // never stepped
  EXPECT_FALSE(db.exec("NOT SQL"));
}

TEST_F(SqliteTest, TransactionRollsBackUnlessCommitted) {
  Db db = open_checked();
  {
    auto tx = Transaction::begin(db);
    ASSERT_TRUE(tx) << tx.error().detail;
    ASSERT_TRUE(Statement(db, "INSERT INTO t (x) VALUES (1)").run());
    Statement bad(db, "INSERT INTO t (x) VALUES (-1)");
    ASSERT_FALSE(bad.run());
    // Leaves without commit(): the first row goes too.
  }
  EXPECT_EQ(count(db), 0);
  {
    auto tx = Transaction::begin(db);
    ASSERT_TRUE(tx);
    ASSERT_TRUE(Statement(db, "INSERT INTO t (x) VALUES (2)").run());
    ASSERT_TRUE(tx->commit());
  }
  EXPECT_EQ(count(db), 1);
  auto again = Transaction::begin(db);  // nothing left open by either
  EXPECT_TRUE(again);
}

TEST_F(SqliteTest, CommitFailureIsAnErrorAndRollsBack) {
  Db db = open_checked();
  ASSERT_TRUE(
      db.exec("PRAGMA foreign_keys=ON;"
              "CREATE TABLE p (id INTEGER PRIMARY KEY);"
              "CREATE TABLE c (p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED);"));
  {
    auto tx = Transaction::begin(db);
    ASSERT_TRUE(tx);
    ASSERT_TRUE(Statement(db, "INSERT INTO t (x) VALUES (1)").run());
    ASSERT_TRUE(Statement(db, "INSERT INTO c (p) VALUES (42)").run());  // checked at COMMIT
    auto committed = tx->commit();
    ASSERT_FALSE(committed);
    EXPECT_NE(committed.error().detail.find("FOREIGN KEY"), std::string::npos)
        << committed.error().detail;
  }
  EXPECT_EQ(count(db), 0);
}

TEST_F(SqliteTest, WriteToReadOnlyDatabaseIsAnIoError) {
  { open_checked(); }
  OpenOptions ro;
  ro.read_only = true;
  auto db = Db::open(path(), "test", ro);
  ASSERT_TRUE(db) << db.error().detail;
  auto done = Statement(*db, "INSERT INTO t (x) VALUES (1)").run();
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().code, ErrorCode::kIo) << done.error().detail;
  {
    // In a transaction, whether BEGIN IMMEDIATE or the write refuses: nothing is kept.
    auto tx = Transaction::begin(*db);
    if (tx) {
      EXPECT_FALSE(Statement(*db, "INSERT INTO t (x) VALUES (1)").run());
    } else {
      EXPECT_EQ(tx.error().code, ErrorCode::kIo) << tx.error().detail;
    }
  }
  EXPECT_EQ(count(*db), 0);
}

TEST_F(SqliteTest, MissingDirectoryIsAnIoError) {
  auto db = Db::open((dir_ / "missing" / "t.db").string(), "test", {});
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code, ErrorCode::kIo) << db.error().detail;
}

TEST_F(SqliteTest, NotADatabaseIsCorrupt) {
  std::ofstream(path()) << std::string(4096, 'x');
  OpenOptions options;
  options.wal = true;
  options.schema = "CREATE TABLE IF NOT EXISTS t (x INTEGER);";
  auto db = Db::open(path(), "test", options);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code, ErrorCode::kCorrupt) << db.error().detail;
}

TEST_F(SqliteTest, LockedDatabaseIsUnavailable) {
  OpenOptions wal;
  wal.wal = true;
  Db a = open_checked(wal);
  Db b = open_checked(wal);
  auto holds = Transaction::begin(a);
  ASSERT_TRUE(holds);
  auto waits = Transaction::begin(b);  // no busy timeout: at once
  ASSERT_FALSE(waits);
  EXPECT_EQ(waits.error().code, ErrorCode::kUnavailable) << waits.error().detail;
}

TEST_F(SqliteTest, OpensWithThePragmasAsked) {
  OpenOptions options;
  options.wal = true;
  options.synchronous = OpenOptions::Synchronous::kFull;
  Db db = open_checked(options);
  Statement mode(db, "PRAGMA journal_mode");
  auto row = mode.step();
  ASSERT_TRUE(row && *row);
  EXPECT_EQ(mode.text(0), "wal");
  Statement sync(db, "PRAGMA synchronous");
  row = sync.step();
  ASSERT_TRUE(row && *row);
  EXPECT_EQ(sync.int64(0), 2);  // FULL
}

}  // namespace
}  // namespace txmail::store::sqlite
