// The dispatcher's dead letters and their replay, through WebhookDispatcher (not started: no
// request is made). Replay is one transaction: when the outbox refuses a dead letter (a
// trigger the test adds), none moves and none is lost, and the caller hears of it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "events/sqlite_event_log.h"
#include "events/webhooks.h"
#include "store/sqlite.h"

namespace txmail::events {
namespace {

using store::sqlite::Db;
using store::sqlite::Statement;

class DeadLettersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path()
           / ("txmail-dead-" + std::to_string(::getpid()) + "-"
              + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto log =
        SqliteEventLog::open((dir_ / "events.db").string(), SqliteEventLog::Mode::kReadWrite);
    ASSERT_TRUE(log) << log.error().detail;
    log_ = std::move(*log);
    open_dispatcher();  // creates the schema
    dispatcher_.reset();
    // Three dead letters, two of alice's: as the dispatcher stores them (sealing is identity).
    auto db = state();
    for (const char* account : {"alice", "alice", "bob"}) {
      Statement ins(
          db,
          "INSERT INTO dead (account, job_id, endpoint, body, notifications, attempt,"
          " next_ms, last_error, created_ms) VALUES (?, 'job', ?, '{}', 1, 3, 0, 'HTTP 503', 1)");
      ASSERT_TRUE(ins.bind(1, std::string_view(account))
                      .bind(2, to_json(Endpoint{"https://hooks.test/x", {}, "", ""}))
                      .run());
    }
    open_dispatcher();
  }

  void TearDown() override {
    dispatcher_.reset();
    log_.reset();
    std::filesystem::remove_all(dir_);
  }

  void open_dispatcher() {
    WebhookDispatcher::Deps deps{
        *log_,
        (dir_ / "webhooks.db").string(),
        [](const std::string&) { return std::optional<Endpoint>(); },
        [](const std::string&) { return std::string("secret"); },
        [](const std::string& plain, const std::string&) { return plain; },
        [](const std::string& sealed, const std::string&) { return Result<std::string>(sealed); },
        nullptr};
    auto d = WebhookDispatcher::open(std::move(deps), WebhookOptions{});
    ASSERT_TRUE(d) << d.error().detail;
    dispatcher_ = std::move(*d);
  }

  Db state() {
    auto db = Db::open((dir_ / "webhooks.db").string(), "test", {});
    EXPECT_TRUE(db) << db.error().detail;
    return db ? std::move(*db) : Db();
  }

  std::int64_t rows(const char* table) {
    auto db = state();
    Statement q(db, std::string("SELECT count(*) FROM ") + table);
    auto row = q.step();
    EXPECT_TRUE(row && *row);
    return q.int64(0);
  }

  std::size_t listed(const std::string& account) {
    auto list = dispatcher_->dead_letters(account, 100);
    EXPECT_TRUE(list) << list.error().detail;
    return list ? list->size() : 0;
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqliteEventLog> log_;
  std::unique_ptr<WebhookDispatcher> dispatcher_;
};

TEST_F(DeadLettersTest, ReplayMovesTheAccountsDeadLettersToTheOutbox) {
  EXPECT_EQ(listed("alice"), 2U);
  EXPECT_EQ(listed(""), 3U);
  auto n = dispatcher_->replay("alice");
  ASSERT_TRUE(n) << n.error().detail;
  EXPECT_EQ(*n, 2U);
  EXPECT_EQ(listed("alice"), 0U);
  EXPECT_EQ(listed("bob"), 1U);
  EXPECT_EQ(rows("outbox"), 2);
  EXPECT_EQ(dispatcher_->stats().retry_backlog, 2U);
}

// The outbox refuses rows (as a full disk or a damaged file would): the replay fails, and every
// dead letter stays where it was.
TEST_F(DeadLettersTest, ReplayThatCannotWriteTheOutboxKeepsEveryDeadLetter) {
  ASSERT_TRUE(
      state().exec("CREATE TRIGGER refuse BEFORE INSERT ON outbox"
                   " BEGIN SELECT RAISE(ABORT, 'outbox refused'); END"));
  auto n = dispatcher_->replay("");
  ASSERT_FALSE(n);
  EXPECT_NE(n.error().detail.find("outbox refused"), std::string::npos) << n.error().detail;
  EXPECT_EQ(listed(""), 3U);
  EXPECT_EQ(rows("dead"), 3);
  EXPECT_EQ(rows("outbox"), 0);
}

// An INSERT that "succeeds" without inserting (a trigger that ignores the row): the dead
// letter must not be deleted for a copy that does not exist.
TEST_F(DeadLettersTest, ReplayThatInsertsNothingDeletesNothing) {
  ASSERT_TRUE(
      state().exec("CREATE TRIGGER drop_rows BEFORE INSERT ON outbox"
                   " BEGIN SELECT RAISE(IGNORE); END"));
  auto n = dispatcher_->replay("alice");
  ASSERT_FALSE(n);
  EXPECT_EQ(listed("alice"), 2U);
  EXPECT_EQ(rows("dead"), 3);
  EXPECT_EQ(rows("outbox"), 0);
}

// The dead letters cannot be read: an error, not an empty list nor "0 replayed".
TEST_F(DeadLettersTest, UnreadableDeadLettersAreAnErrorNotNone) {
  {
    // Behind the open dispatcher's back, the table becomes a view that fails when read
    // (job_id is not JSON: an error at step time, not at prepare).
    auto db = state();
    ASSERT_TRUE(db.exec(
        "ALTER TABLE dead RENAME TO dead_rows;"
        "CREATE VIEW dead AS SELECT id, account, job_id, endpoint, body, notifications,"
        " attempt, next_ms, json_extract(job_id, '$') AS last_error, created_ms FROM dead_rows;"));
  }
  auto list = dispatcher_->dead_letters("alice", 100);
  EXPECT_FALSE(list);
  auto n = dispatcher_->replay("alice");
  EXPECT_FALSE(n);
}

}  // namespace
}  // namespace txmail::events
