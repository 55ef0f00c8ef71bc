#include "events/message_index.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "events/sqlite_event_log.h"

namespace txmail::events {
namespace {

using store::sqlite::Db;
using store::sqlite::Statement;

class MessageIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path()
            / ("txmail-messages-" + std::to_string(::getpid()) + "-"
               + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db");
    std::filesystem::remove(path_);
    open();
  }

  void TearDown() override {
    log_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path_.string() + suffix);
    }
  }

  void open() {
    auto log = SqliteEventLog::open(path_.string(), SqliteEventLog::Mode::kReadWrite);
    ASSERT_TRUE(log) << log.error().detail;
    log_ = std::move(*log);
  }

  // One event of a message; the log stores it with the next close() or batch.
  void add(Kind kind, const std::string& account, int job, int rcpt, std::int64_t ts,
           const std::string& recipient = "") {
    Event e = make_event(kind);
    e.ts_ms = ts;
    e.account = account;
    e.job_id = "job-" + std::to_string(job);
    e.mail_id = e.job_id + "#" + std::to_string(rcpt);
    e.recipient = recipient.empty() ? "r" + std::to_string(rcpt) + "@Dest.Example" : recipient;
    e.sender = "bounces@" + account + ".example";
    e.reply = kind == Kind::kBouncedHard ? "550 5.1.1 no such user" : "";
    log_->append(std::move(e));
  }

  std::vector<MessageRow> search(const MessageQuery& q) {
    auto rows = log_->search(q);
    EXPECT_TRUE(rows) << rows.error().detail;
    return rows ? *rows : std::vector<MessageRow>{};
  }

  std::filesystem::path path_;
  std::unique_ptr<SqliteEventLog> log_;
};

TEST_F(MessageIndexTest, OneRowPerMessageWithItsLatestStatus) {
  add(Kind::kStarted, "shop", 1, 0, 1000);
  add(Kind::kStarted, "shop", 1, 1, 1000);
  add(Kind::kDeferred, "shop", 1, 0, 2000);
  add(Kind::kDelivered, "shop", 1, 0, 3000);
  add(Kind::kProcessed, "shop", 1, 0, 3500);  // a note never replaces an outcome
  add(Kind::kBouncedHard, "shop", 1, 1, 2500);
  add(Kind::kStarted, "other", 2, 0, 1500, "ann@bücher.example");
  log_->close();

  const auto all = search({});
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[0].mail_id, "job-2#0");  // newest first: by the first event's time
  EXPECT_EQ(all[0].recipient, "ann@xn--bcher-kva.example");
  EXPECT_EQ(all[1].mail_id, "job-1#1");
  EXPECT_EQ(all[1].status, "BOUNCED");
  EXPECT_EQ(all[1].reply, "550 5.1.1 no such user");
  EXPECT_EQ(all[2].status, "DELIVERED");
  EXPECT_EQ(all[2].first_ts_ms, 1000);
  EXPECT_EQ(all[2].last_ts_ms, 3500);

  MessageQuery q;
  q.account = "shop";
  EXPECT_EQ(search(q).size(), 2U);
  q.status = "DELIVERED";
  ASSERT_EQ(search(q).size(), 1U);
  EXPECT_EQ(search(q)[0].mail_id, "job-1#0");
  q = {};
  q.recipient = "ann@BÜCHER.example";  // either form of the domain finds it
  ASSERT_EQ(search(q).size(), 1U);
  q = {};
  q.sender = "bounces@SHOP.example";
  EXPECT_EQ(search(q).size(), 2U);
  q = {};
  q.since_ms = 1000;
  q.until_ms = 1500;
  EXPECT_EQ(search(q).size(), 2U);
  q.oldest_first = true;
  q.since_ms = 1001;
  q.until_ms.reset();
  ASSERT_EQ(search(q).size(), 1U);
  EXPECT_EQ(search(q)[0].mail_id, "job-2#0");
}

// Pages follow each other without a row twice or missing, although events come in meanwhile,
// many with the same time.
TEST_F(MessageIndexTest, CursorPagesAreStableUnderInserts) {
  for (int i = 0; i < 50; ++i) {
    add(Kind::kStarted, "shop", i, 0, 1000 + i / 10);
  }
  log_->close();
  open();
  std::set<std::string> seen;
  MessageQuery q;
  q.account = "shop";
  q.limit = 7;
  for (int page = 0; page < 20; ++page) {
    const auto rows = search(q);
    for (const auto& r : rows) {
      EXPECT_TRUE(seen.insert(r.mail_id).second) << r.mail_id << " twice";
    }
    if (rows.size() < q.limit) {
      break;
    }
    q.after = rows.back().cursor();
    add(Kind::kStarted, "shop", 100 + page, 0, 5000);  // newer than any page: not listed
    add(Kind::kDelivered, "shop", page, 0, 6000);      // an update does not move a row
    log_->close();
    open();
  }
  EXPECT_EQ(seen.size(), 50U);
}

// A log written before the index existed is indexed when it is opened.
TEST_F(MessageIndexTest, OlderLogIsIndexedAtOpen) {
  add(Kind::kStarted, "shop", 1, 0, 1000);
  add(Kind::kDelivered, "shop", 1, 0, 2000);
  log_->close();
  log_.reset();
  {
    auto db = Db::open(path_.string(), "test", {});
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("DROP TABLE messages; DELETE FROM positions"));
  }
  open();
  const auto rows = search({});
  ASSERT_EQ(rows.size(), 1U);
  EXPECT_EQ(rows[0].status, "DELIVERED");
}

// The plan's lines for one query, and whether each reads `messages` through an index in the
// listing's order (no full scan, no sort).
std::string plan_of(Db& db, const std::string& sql) {
  Statement st(db, "EXPLAIN QUERY PLAN " + sql);
  std::string plan;
  auto done = st.each([&] { plan += st.text(3) + "\n"; });
  EXPECT_TRUE(done) << (done ? "" : done.error().detail);
  return plan;
}

bool indexed(const std::string& plan) {
  return plan.find("SEARCH m USING INDEX messages_") != std::string::npos
         && plan.find("SCAN m") == std::string::npos
         && plan.find("TEMP B-TREE") == std::string::npos
         && plan.find("SEARCH e USING INTEGER PRIMARY KEY") != std::string::npos;
}

TEST_F(MessageIndexTest, EveryFilterCombinationSearchesAnIndex) {
  log_->close();
  store::sqlite::OpenOptions read_only;
  read_only.read_only = true;
  auto db = Db::open(path_.string(), "test", read_only);
  ASSERT_TRUE(db);
  // The check itself fails on a scan.
  EXPECT_FALSE(indexed(plan_of(*db, "SELECT * FROM messages m WHERE m.last_ts > 5")));
  for (int bits = 0; bits < 64; ++bits) {
    MessageQuery q;
    q.account = (bits & 1) != 0 ? "shop" : "";
    q.recipient = (bits & 2) != 0 ? "ann@dest.example" : "";
    q.sender = (bits & 4) != 0 ? "bounces@shop.example" : "";
    q.status = (bits & 8) != 0 ? "BOUNCED" : "";
    if ((bits & 16) != 0) {
      q.after = MessageCursor{5000, 17};
    }
    q.oldest_first = (bits & 32) != 0;
    // Every listing is bounded in time (the API adds none when neither is given: then the
    // walk is along the index in order and stops at the limit).
    for (bool bounded : {true, false}) {
      if (bounded) {
        q.since_ms = 1000;
        q.until_ms = 9000;
      } else {
        q.since_ms.reset();
        q.until_ms.reset();
      }
      const std::string plan = plan_of(*db, message_index::select_sql(q));
      const bool ordered_walk = !bounded && !q.after && q.account.empty() && q.recipient.empty()
                                && q.sender.empty() && q.status.empty();
      if (ordered_walk) {
        EXPECT_NE(plan.find("SCAN m USING INDEX messages_ts"), std::string::npos) << plan;
        EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
      } else {
        EXPECT_TRUE(indexed(plan)) << "filters " << bits << " bounded " << bounded << ":\n" << plan;
      }
    }
  }
}

}  // namespace
}  // namespace txmail::events
