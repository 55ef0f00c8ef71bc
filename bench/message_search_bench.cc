// Message search with a million events (issue console-1, item 1): appends EVENTS events to a
// new event log through SqliteEventLog (the writer's group commit, as a node does), prints the
// append throughput, then times each kind of search query and the deliveries report's pages.
//
//   message_search_bench FILE [EVENTS]      (FILE must not exist; EVENTS default 1000000)
//
// Built with -DTXMAIL_BENCH_APPEND_ONLY against sqlite_event_log.{h,cc} from before the message
// index, it measures the appends alone: the "before" of docs/benchmarks.md.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <random>
#include <string>
#include <vector>

#include "events/sqlite_event_log.h"

#ifndef TXMAIL_BENCH_APPEND_ONLY
#define TXMAIL_BENCH_SEARCH 1
#endif

namespace {

using txmail::events::Event;
using txmail::events::Kind;
using Clock = std::chrono::steady_clock;

constexpr int kAccounts = 4;
constexpr int kRecipientsPerJob = 10;
constexpr std::int64_t kSpanMs = std::int64_t{30} * 24 * 3600 * 1000;  // the log covers 30 days
constexpr std::int64_t kEnd = 1764547200000;                           // 2025-12-01T00:00:00Z

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The events of one job: each recipient STARTED, then its outcome (70% delivered, 10% deferred
// then delivered, 10% bounced, 10% dropped at intake).
void job_events(std::int64_t job, std::int64_t ts, std::mt19937_64& rng, std::vector<Event>& out) {
  const std::string account = "account" + std::to_string(job % kAccounts);
  const std::string job_id = fmt::format("{:016x}-bench", job);
  const std::string sender = fmt::format("bounces{}@{}.example", job % 50, account);
  for (int r = 0; r < kRecipientsPerJob; ++r) {
    Event e = txmail::events::make_event(Kind::kStarted);
    e.ts_ms = ts;
    e.account = account;
    e.job_id = job_id;
    e.mail_id = fmt::format("{}#{:08x}#00000000", job_id, r);
    e.recipient = fmt::format("user{}@dest{}.example", rng() % 20000, rng() % 100);
    e.sender = sender;
    out.push_back(e);
    const auto roll = rng() % 10;
    const Kind outcome = roll < 8    ? Kind::kDelivered
                         : roll == 8 ? Kind::kBouncedHard
                                     : Kind::kDroppedPreviouslyBounced;
    if (roll == 7) {
      e.kind = Kind::kDeferred;
      e.ts_ms = ts + 60000;
      e.reply = "451 4.7.1 try again later";
      out.push_back(e);
    }
    e.kind = outcome;
    e.ts_ms = ts + (roll == 7 ? 120000 : 800);
    e.attempt = outcome == Kind::kDroppedPreviouslyBounced ? 0 : 1;
    e.remote_host = "mx.dest.example[192.0.2.1]";
    e.reply = outcome == Kind::kBouncedHard ? "550 5.1.1 no such user" : "250 2.0.0 Ok";
    out.push_back(e);
  }
}

// Appends about `total` events in batches, two batches in flight; returns events/s.
double append(txmail::events::SqliteEventLog& log, std::int64_t total) {
  std::mt19937_64 rng(42);
  const std::int64_t jobs = total / (std::int64_t{kRecipientsPerJob} * 2);
  std::future<void> previous;
  std::int64_t appended = 0;
  const auto start = Clock::now();
  std::vector<Event> batch;
  for (std::int64_t job = 0; job < jobs; ++job) {
    job_events(job, kEnd - kSpanMs + kSpanMs * job / jobs, rng, batch);
    if (batch.size() >= 5000 || job + 1 == jobs) {
      appended += static_cast<std::int64_t>(batch.size());
      auto done = std::make_shared<std::promise<void>>();
      auto stored = done->get_future();
      log.append_all(std::move(batch), [done] { done->set_value(); });
      batch.clear();
      if (previous.valid()) {
        previous.wait();
      }
      previous = std::move(stored);
    }
  }
  previous.wait();
  const double seconds = ms_since(start) / 1000;
  fmt::print("appended {} events in {:.1f} s: {:.0f} events/s\n", appended, seconds,
             static_cast<double>(appended) / seconds);
  return static_cast<double>(appended) / seconds;
}

#ifdef TXMAIL_BENCH_SEARCH
using txmail::events::MessageQuery;

// Prints the median and slowest of 21 runs; returns the rows of the last.
std::vector<txmail::events::MessageRow> time_query(txmail::events::SqliteEventLog& log,
                                                   const char* name, const MessageQuery& q) {
  std::vector<double> times;
  std::vector<txmail::events::MessageRow> rows;
  for (int i = 0; i < 21; ++i) {
    const auto start = Clock::now();
    auto found = log.search(q);
    times.push_back(ms_since(start));
    if (!found) {
      fmt::print(stderr, "{}: {}\n", name, found.error().detail);
      std::exit(1);
    }
    rows = std::move(*found);
  }
  std::sort(times.begin(), times.end());
  fmt::print("| {} | {} | {:.2f} | {:.2f} |\n", name, rows.size(), times[times.size() / 2],
             times.back());
  return rows;
}

void search(txmail::events::SqliteEventLog& log) {
  fmt::print("| query (limit 101) | rows | median ms | max ms |\n|---|---|---|---|\n");
  MessageQuery q;
  q.limit = 101;
  time_query(log, "admin, no filter", q);
  q.account = "account1";
  const auto some = time_query(log, "account", q);
  q.status = "BOUNCED";
  time_query(log, "account + status=BOUNCED", q);
  q.status = "DEFERRED";  // no message ends deferred: an empty answer
  time_query(log, "account + status=DEFERRED (none)", q);
  q.status.clear();
  q.since_ms = kEnd - kSpanMs / 2;
  q.until_ms = q.since_ms.value() + std::int64_t{3600} * 1000;
  time_query(log, "account + since/until (1 hour)", q);
  q = MessageQuery{};
  q.limit = 101;
  q.account = "account1";
  q.recipient = some.at(50).recipient;  // one that exists
  time_query(log, "account + recipient", q);
  q.recipient.clear();
  q.sender = "bounces5@account1.example";
  time_query(log, "account + sender", q);
  q.status = "BOUNCED";
  time_query(log, "account + sender + status=BOUNCED", q);
  q.account.clear();
  time_query(log, "admin, sender + status=BOUNCED", q);
  q = MessageQuery{};
  q.limit = 101;
  q.status = "DROPPED";
  q.after = txmail::events::MessageCursor{kEnd - kSpanMs / 3, 1};
  time_query(log, "admin, status=DROPPED, page after a cursor", q);
}

// The deliveries report's query, page by page (1000 rows each), over one day of one account.
void report(txmail::events::SqliteEventLog& log) {
  MessageQuery q;
  q.account = "account2";
  q.since_ms = kEnd - kSpanMs / 2;
  q.until_ms = q.since_ms.value() + std::int64_t{24} * 3600 * 1000;
  q.oldest_first = true;
  q.limit = 1000;
  std::size_t rows = 0;
  std::size_t pages = 0;
  double slowest = 0;
  const auto start = Clock::now();
  for (;;) {
    const auto page_start = Clock::now();
    auto found = log.search(q);
    slowest = std::max(slowest, ms_since(page_start));
    if (!found || found->empty()) {
      break;
    }
    rows += found->size();
    ++pages;
    q.after = found->back().cursor();
  }
  fmt::print(
      "report, one account, one day: {} rows in {} pages, {:.0f} ms, slowest page {:.2f} ms\n",
      rows, pages, ms_since(start), slowest);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::filesystem::exists(argv[1])) {
    fmt::print(stderr, "usage: message_search_bench NEW_FILE [EVENTS]\n");
    return 2;
  }
  const std::int64_t total = argc > 2 ? std::atoll(argv[2]) : 1000000;
  auto log = txmail::events::SqliteEventLog::open(argv[1],
                                                  txmail::events::SqliteEventLog::Mode::kReadWrite);
  if (!log) {
    fmt::print(stderr, "{}\n", log.error().detail);
    return 1;
  }
  append(**log, total);
#ifdef TXMAIL_BENCH_SEARCH
  search(**log);
  report(**log);
#endif
  (*log)->close();
  log->reset();  // the last connection checkpoints the WAL into the file
  fmt::print("file size {:.0f} MB\n",
             static_cast<double>(std::filesystem::file_size(argv[1])) / 1e6);
  return 0;
}
