#include "store/rocks_spool.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <spdlog/sinks/ostream_sink.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <sstream>
#include <thread>

#include "common/log.h"

namespace txmail::store {
namespace {

class RocksSpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path()
           / ("txmail-spool-" + std::to_string(::getpid()) + "-"
              + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }

  void TearDown() override { std::filesystem::remove_all(dir_); }

  static SpoolRecord record(int i) {
    SpoolRecord r;
    r.job_id = "job-" + std::to_string(1000 + i);
    r.account = "acct";
    r.sender = "s@example.com";
    r.recipients = {
        {"r@example.org", r.job_id + "#00000000#00000000", RecipientStatus::kQueued, 0, 0}};
    r.message = "Subject: " + std::to_string(i) + "\r\n\r\nbody\r\n";
    if (i % 2 == 1) {
      r.job_data = R"({"job":")" + r.job_id + R"(","endpoint":"sealed"})";  // cluster mode
    }
    return r;
  }

  // A message big enough for a body segment (RocksSpool::kBodyMin), one size per i.
  static SpoolRecord large(int i) {
    SpoolRecord r = record(i);
    r.job_id = "big-" + std::to_string(1000 + i);
    r.recipients[0].mail_id = r.job_id + "#00000000#00000000";
    r.message = "Subject: big " + std::to_string(i) + "\r\n\r\n";
    for (int line = 0; r.message.size() < RocksSpool::kBodyMin + 1000 * static_cast<std::size_t>(i);
         ++line) {
      r.message += "line " + std::to_string(line) + " of message " + std::to_string(i) + "\r\n";
    }
    // The job data stays in the record when its message goes to a body segment.
    r.job_data = i % 2 == 1 ? R"({"job":")" + r.job_id + R"("})" : std::string();
    return r;
  }

  static Result<void> put_sync(Spool& spool, const SpoolRecord& r) {
    return sync([&](Spool::Done d) { spool.put(r, std::move(d)); });
  }

  static Result<void> sync(const std::function<void(Spool::Done)>& op) {
    std::promise<Result<void>> done;
    op([&](Result<void> res) { done.set_value(std::move(res)); });
    return done.get_future().get();
  }

  std::size_t segments() const {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "bodies")) {
      n += e.path().filename().string().starts_with("seg-") ? 1 : 0;
    }
    return n;
  }

  std::filesystem::path dir_;
};

TEST_F(RocksSpoolTest, PutGetScanAndReopen) {
  {
    auto spool = RocksSpool::open(dir_.string(), RocksSpool::Mode::kReadWrite);
    ASSERT_TRUE(spool) << spool.error().detail;
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(put_sync(**spool, record(i)));
    }
    auto got = (*spool)->get("job-1003");
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ(**got, record(3));
    auto missing = (*spool)->get("job-9999");
    ASSERT_TRUE(missing);
    EXPECT_FALSE(missing->has_value());
  }
  auto spool = RocksSpool::open(dir_.string(), RocksSpool::Mode::kReadOnly);
  ASSERT_TRUE(spool) << spool.error().detail;
  int seen = 0;
  auto n = (*spool)->scan(
      [&](SpoolRecord&& r) {
        EXPECT_EQ(r, record(seen));
        ++seen;
        return true;
      },
      [](const Error& e) { ADD_FAILURE() << e.detail; }, Spool::Messages::kWhole);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 10U);
}

TEST_F(RocksSpoolTest, ConcurrentPutsShareSyncs) {
  auto spool = RocksSpool::open(dir_.string(), RocksSpool::Mode::kReadWrite);
  ASSERT_TRUE(spool);
  constexpr int kThreads = 8;
  constexpr int kEach = 50;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        if (put_sync(**spool, record(t * kEach + i))) {
          ++ok;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(ok.load(), kThreads * kEach);
  const SpoolStats stats = (*spool)->stats();
  EXPECT_EQ(stats.records, static_cast<std::uint64_t>(kThreads * kEach));
  // With eight writers waiting at once, groups form: fewer syncs than records.
  EXPECT_LT(stats.syncs, stats.records);
}

// Everything a node does to the spool at once (ThreadSanitizer's case, make test-tsan): writers
// put small and large messages and wait for their completions, then update and erase them
// without waiting; readers get what was acknowledged, from memory and from disk; the queue's
// size hints, stats and size come from yet other threads.
TEST_F(RocksSpoolTest, ConcurrentWritersReadersAndHints) {
  auto spool = RocksSpool::open(dir_.string(), RocksSpool::Mode::kReadWrite);
  ASSERT_TRUE(spool) << spool.error().detail;
  RocksSpool& s = **spool;
  constexpr int kWriters = 4;
  constexpr int kEach = 12;
  std::atomic<int> acknowledged{0};
  std::atomic<int> failures{0};
  std::atomic<bool> writing{true};
  std::vector<SpoolRecord> records;  // every third one large enough for a body segment
  records.reserve(static_cast<std::size_t>(kWriters) * kEach);
  for (int n = 0; n < kWriters * kEach; ++n) {
    records.push_back(n % 3 == 0 ? large(n) : record(n));
  }
  std::vector<std::thread> threads;
  threads.reserve(kWriters + 2);
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kEach; ++i) {
        const int n = w * kEach + i;
        const SpoolRecord& r = records[static_cast<std::size_t>(n)];
        if (!put_sync(s, r)) {
          ++failures;
          continue;
        }
        ++acknowledged;
        auto state = r.recipients;
        state[0].attempts = 1;
        // Nobody waits for these: they ride on the next put's sync.
        s.update_recipients(r.job_id, state,
                            [&](const Result<void>& res) { failures += res ? 0 : 1; });
        if (i % 2 == 1) {
          s.erase(r.job_id, [&](const Result<void>& res) { failures += res ? 0 : 1; });
        }
      }
    });
  }
  for (int reader = 0; reader < 2; ++reader) {
    threads.emplace_back([&, reader] {
      while (writing.load()) {
        for (auto n = static_cast<std::size_t>(reader); n < records.size(); n += 2) {
          const SpoolRecord& r = records[n];
          if (auto got = s.get(r.job_id); got && got->has_value()) {
            EXPECT_EQ((*got)->message, r.message);
          }
          if (auto fast = s.get_from_memory(r.job_id); fast && *fast && fast->value()) {
            EXPECT_EQ(fast->value()->message, r.message);
          }
        }
      }
    });
  }
  threads.emplace_back([&] {
    // A few dozen memtable changes (each writes an OPTIONS file), while the writers write.
    std::size_t jobs = 0;
    for (int i = 0; i < 200 && writing.load();
         ++i, jobs = (jobs + 7'919) % (2 * RocksSpool::kLongQueue)) {
      s.queue_size_hint(jobs);
      (void)s.stats();
      (void)s.bytes();
      (void)s.accepting();
      std::this_thread::yield();
    }
  });
  for (int w = 0; w < kWriters; ++w) {
    threads[static_cast<std::size_t>(w)].join();
  }
  writing = false;
  for (std::size_t t = kWriters; t < threads.size(); ++t) {
    threads[t].join();
  }
  s.close();  // completes the lazy writes still queued
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(acknowledged.load(), kWriters * kEach);
  std::size_t left = 0;
  ASSERT_TRUE(s.scan(
      [&](SpoolRecord&& r) {
        EXPECT_EQ(r.recipients[0].attempts, 1U) << r.job_id;
        ++left;
        return true;
      },
      [](const Error& e) { ADD_FAILURE() << e.detail; }, Spool::Messages::kWhole));
  EXPECT_EQ(left, static_cast<std::size_t>(kWriters * kEach / 2));
}

TEST_F(RocksSpoolTest, LazyWritesShareTheNextPutsSync) {
  auto spool = RocksSpool::open(dir_.string(), RocksSpool::Mode::kReadWrite);
  ASSERT_TRUE(spool);
  // An erase and a recipient update nobody waits for, then a put: one sync carries all three.
  // (Timing: a test thread stalled past kLazyWait lets them go alone; a few tries allow that.)
  bool shared = false;
  for (int attempt = 0; attempt < 5 && !shared; ++attempt) {
    const SpoolRecord a = record(10 * attempt + 1);
    const SpoolRecord b = record(10 * attempt + 2);
    ASSERT_TRUE(put_sync(**spool, a));
    ASSERT_TRUE(put_sync(**spool, b));
    const std::uint64_t before = (*spool)->stats().syncs;
    std::promise<Result<void>> erased;
    std::promise<Result<void>> updated;
    (*spool)->erase(a.job_id, [&](Result<void> r) { erased.set_value(std::move(r)); });
    (*spool)->update_recipients(b.job_id, b.recipients,
                                [&](Result<void> r) { updated.set_value(std::move(r)); });
    ASSERT_TRUE(put_sync(**spool, record(10 * attempt + 3)));
    ASSERT_TRUE(erased.get_future().get());
    ASSERT_TRUE(updated.get_future().get());
    shared = (*spool)->stats().syncs == before + 1;
  }
  EXPECT_TRUE(shared);
  // Alone, a lazy write still completes (after at most kLazyWait), and is on disk.
  std::promise<Result<void>> alone;
  (*spool)->erase(record(2).job_id, [&](Result<void> r) { alone.set_value(std::move(r)); });
  auto done = alone.get_future();
  ASSERT_EQ(done.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  ASSERT_TRUE(done.get());
  auto gone = (*spool)->get(record(2).job_id);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
}

TEST_F(RocksSpoolTest, PutAfterCloseFails) {
  auto spool = RocksSpool::open(dir_.string(), RocksSpool::Mode::kReadWrite);
  ASSERT_TRUE(spool);
  (*spool)->close();
  auto res = put_sync(**spool, record(1));
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, ErrorCode::kUnavailable);
}

// RocksDB's lines go to txmail's log, not to a LOG file of its own: RocksDB's file logger ends
// the process on its first line after a failed write (a full disk), with Debian's assertions.
TEST_F(RocksSpoolTest, RocksDbLinesGoToTxmailsLog) {
  std::ostringstream lines;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(lines);
  {
    logger()->sinks().push_back(sink);
    // Put back however the test ends: the sink refers to `lines`.
    const std::shared_ptr<void> restore(nullptr, [level = logger()->level()](void*) {
      logger()->set_level(level);
      logger()->sinks().pop_back();
    });
    logger()->set_level(spdlog::level::debug);
    auto spool = RocksSpool::open(dir_.string(), RocksSpool::Mode::kReadWrite);
    ASSERT_TRUE(spool);
    ASSERT_TRUE(put_sync(**spool, record(1)));
  }
  EXPECT_NE(lines.str().find("rocksdb: "), std::string::npos);
  std::istringstream each(lines.str());
  for (std::string line; std::getline(each, line);) {
    EXPECT_TRUE(line.starts_with("["))
        << "a line of RocksDB's not on a log line of its own: " << line;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "LOG"));
}

TEST_F(RocksSpoolTest, RecipientStateAndErase) {
  auto spool = RocksSpool::open(dir_.string(), RocksSpool::Mode::kReadWrite);
  ASSERT_TRUE(spool);
  ASSERT_TRUE(put_sync(**spool, record(1)));
  ASSERT_TRUE(put_sync(**spool, record(2)));
  auto state = record(1).recipients;
  state[0].status = RecipientStatus::kDelivered;
  state[0].attempts = 2;
  std::promise<Result<void>> updated;
  (*spool)->update_recipients("job-1001", state,
                              [&](const Result<void>& r) { updated.set_value(r); });
  ASSERT_TRUE(updated.get_future().get());
  auto got = (*spool)->get("job-1001");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((**got).recipients, state);
  EXPECT_EQ((**got).message, record(1).message);
  std::promise<Result<void>> erased;
  (*spool)->erase("job-1001", [&](const Result<void>& r) { erased.set_value(r); });
  ASSERT_TRUE(erased.get_future().get());
  auto gone = (*spool)->get("job-1001");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
  std::size_t n = 0;
  ASSERT_TRUE((*spool)->scan(
      [&](SpoolRecord&& r) {
        EXPECT_EQ(r.job_id, "job-1002");
        ++n;
        return true;
      },
      [](const Error& e) { ADD_FAILURE() << e.detail; }, Spool::Messages::kEnvelopes));
  EXPECT_EQ(n, 1U);
}

TEST_F(RocksSpoolTest, MemtableHintsAndReadsFromMemory) {
  auto spool = RocksSpool::open(dir_.string(), RocksSpool::Mode::kReadWrite);
  ASSERT_TRUE(spool);
  // Long queue, then short again: the writer applies each change and keeps writing.
  (*spool)->queue_size_hint(RocksSpool::kLongQueue + 1);
  ASSERT_TRUE(put_sync(**spool, record(1)));
  (*spool)->queue_size_hint(RocksSpool::kShortQueue - 1);
  ASSERT_TRUE(put_sync(**spool, record(2)));
  // A fresh record is answered from memory (no disk read), identical to get().
  auto fast = (*spool)->get_from_memory(record(2).job_id);
  ASSERT_TRUE(fast.has_value());
  ASSERT_TRUE(*fast && fast->value());
  auto slow = (*spool)->get(record(2).job_id);
  ASSERT_TRUE(slow && slow->has_value());
  EXPECT_EQ(fast->value()->message, (*slow)->message);
  auto missing = (*spool)->get_from_memory("0190e6a4-7b1c-7d2e-8f3a-000000000000");
  ASSERT_TRUE(missing.has_value() && *missing);
  EXPECT_FALSE(missing->value().has_value());
  (*spool)->close();
}

TEST_F(RocksSpoolTest, LargeMessagesLiveOutsideTheWalAndComeBackWhole) {
  {
    auto spool = RocksSpool::open(dir_.string(), RocksSpool::Mode::kReadWrite);
    ASSERT_TRUE(spool) << spool.error().detail;
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(sync([&](Spool::Done d) { (*spool)->put(large(i), std::move(d)); }));
    }
    EXPECT_EQ(segments(), 1U);
    auto got = (*spool)->get("big-1003");
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ(**got, large(3));
    // From memory only: the body is in a file, so the caller must read on a worker.
    EXPECT_FALSE((*spool)->get_from_memory("big-1003").has_value());
    ASSERT_TRUE(sync([&](Spool::Done d) { (*spool)->erase("big-1001", std::move(d)); }));
    auto gone = (*spool)->get("big-1001");
    ASSERT_TRUE(gone);
    EXPECT_FALSE(gone->has_value());
  }
  {
    // Another process reads the bodies too (txmail spool show).
    auto ro = RocksSpool::open(dir_.string(), RocksSpool::Mode::kReadOnly);
    ASSERT_TRUE(ro) << ro.error().detail;
    auto got = (*ro)->get("big-1004");
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ((*got)->message, large(4).message);
  }
  {
    // Recovery reads envelopes only (a large message stays in its segment); tools read the
    // whole message. Once every job is erased, a restart leaves no segment behind.
    auto spool = RocksSpool::open(dir_.string(), RocksSpool::Mode::kReadWrite);
    ASSERT_TRUE(spool) << spool.error().detail;
    std::size_t n = 0;
    ASSERT_TRUE((*spool)->scan(
        [&](SpoolRecord&& r) {
          ++n;
          EXPECT_TRUE(r.message.empty()) << r.job_id;
          EXPECT_EQ(r.recipients, large(std::stoi(r.job_id.substr(4)) - 1000).recipients);
          return true;
        },
        [](const Error& e) { ADD_FAILURE() << e.detail; }, Spool::Messages::kEnvelopes));
    EXPECT_EQ(n, 4U);
    n = 0;
    ASSERT_TRUE((*spool)->scan(
        [&](SpoolRecord&& r) {
          ++n;
          EXPECT_EQ(r, large(std::stoi(r.job_id.substr(4)) - 1000));
          return true;
        },
        [](const Error& e) { ADD_FAILURE() << e.detail; }, Spool::Messages::kWhole));
    EXPECT_EQ(n, 4U);
    for (int i : {0, 2, 3, 4}) {
      ASSERT_TRUE(sync([&](Spool::Done d) { (*spool)->erase(large(i).job_id, std::move(d)); }));
    }
  }
  auto spool = RocksSpool::open(dir_.string(), RocksSpool::Mode::kReadWrite);
  ASSERT_TRUE(spool);
  EXPECT_EQ(segments(), 0U);
}

TEST_F(RocksSpoolTest, DamagedBodyReferenceIsCorruptNotAnAllocation) {
  {
    auto spool = RocksSpool::open(dir_.string(), RocksSpool::Mode::kReadWrite);
    ASSERT_TRUE(spool) << spool.error().detail;
    ASSERT_TRUE(sync([&](Spool::Done d) { (*spool)->put(large(0), std::move(d)); }));
    ASSERT_TRUE(sync([&](Spool::Done d) { (*spool)->put(large(1), std::move(d)); }));
  }
  {
    // A damaged disk: one reference claims 16 EiB, the other ends past its segment.
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir_.string(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    for (int i : {0, 1}) {
      std::string value;
      ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), body_key(large(i).job_id), &value).ok());
      auto ref = decode_body_ref(value);
      ASSERT_TRUE(ref) << value;
      ref->length = i == 0 ? 18446744073709551000ULL - ref->offset : ref->length + (1U << 30);
      ASSERT_TRUE(
          db->Put(rocksdb::WriteOptions(), body_key(large(i).job_id), encode_body_ref(*ref)).ok());
    }
  }
  auto spool = RocksSpool::open(dir_.string(), RocksSpool::Mode::kReadWrite);
  ASSERT_TRUE(spool) << spool.error().detail;
  for (int i : {0, 1}) {
    auto got = (*spool)->get(large(i).job_id);
    ASSERT_FALSE(got) << i;
    EXPECT_EQ(got.error().code, ErrorCode::kCorrupt) << got.error().detail;
  }
}

TEST(BodyRef, DecodesOnlyThreeNumbersThatEndInRange) {
  const BodyRef ref{3, 1048576, 20480};
  EXPECT_EQ(encode_body_ref(ref), "3 1048576 20480");
  EXPECT_EQ(decode_body_ref("3 1048576 20480"), ref);
  for (const char* bad : {"", "3 1048576", "3 1048576 20480 ", " 3 1 2", "3  1 2", "3 +1 2",
                          "3 -1 2", "3 1 2x", "4294967296 0 0", "0 18446744073709551615 1"}) {
    EXPECT_FALSE(decode_body_ref(bad).has_value()) << bad;
  }
  EXPECT_TRUE(decode_body_ref("0 18446744073709551614 1").has_value());
}

}  // namespace
}  // namespace txmail::store
