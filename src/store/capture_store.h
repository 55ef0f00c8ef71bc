// CaptureStore: where delivery puts the messages of sandbox accounts instead of sending them
// (issue console-1, item 3). One row per recipient (mail id): its envelope and the message
// bytes exactly as they would have gone out (DKIM signature included). Bounded: after every
// write the oldest rows go until at most `max_messages` rows and `max_bytes` message bytes
// stay, so a sandbox left running never fills the disk.
//
// A small SQLite file of its own (<data_dir>/sandbox.db), per node. Called by delivery (put,
// on the worker pool) and the sandbox API (list, get, on the worker pool); thread-safe (one
// connection under a mutex). The API decides who sees what: list filters by account, get
// returns the row with its account for the caller to check.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/sqlite.h"

namespace txmail::store {

struct CapturedMessage {
  std::int64_t seq = 0;  // assigned by put(): the order of capture (the list's cursor)
  std::string mail_id;
  std::string job_id;
  std::string account;
  std::string sender;     // the envelope sender it would have had (return path included)
  std::string recipient;  // the envelope recipient
  std::int64_t captured_ms = 0;
  std::int64_t size = 0;  // bytes of the message (set by put())
  std::string message;    // the bytes; empty in listings
};

struct CaptureLimits {
  std::size_t max_messages = 1000;
  std::int64_t max_bytes = std::int64_t{256} << 20;
};

struct CaptureQuery {
  std::string account;          // "" every account's
  std::int64_t before_seq = 0;  // 0: from the newest
  std::size_t limit = 100;
};

class CaptureStore {
 public:
  static Result<std::unique_ptr<CaptureStore>> open(const std::string& path, CaptureLimits limits);
  ~CaptureStore();
  CaptureStore(const CaptureStore&) = delete;
  CaptureStore& operator=(const CaptureStore&) = delete;
  CaptureStore(CaptureStore&&) = delete;
  CaptureStore& operator=(CaptureStore&&) = delete;

  // Stores the messages in one transaction (a mail id captured again replaces its row), then
  // drops the oldest rows beyond the limits. Returns how many rows were dropped.
  Result<std::size_t> put(const std::vector<CapturedMessage>& messages);
  // Newest first, without the message bytes.
  Result<std::vector<CapturedMessage>> list(const CaptureQuery& query);
  // One row with its bytes, whatever its account; nullopt when absent (or dropped).
  Result<std::optional<CapturedMessage>> get(const std::string& mail_id);

  // Rows and message bytes held now.
  struct Totals {
    std::size_t messages = 0;
    std::int64_t bytes = 0;
  };

  Result<Totals> totals();

 private:
  CaptureStore(sqlite::Db db, CaptureLimits limits) : db_(std::move(db)), limits_(limits) {}

  Result<std::size_t> trim();  // under mutex_, inside the write transaction

  std::mutex mutex_;
  sqlite::Db db_;
  CaptureLimits limits_;
};

}  // namespace txmail::store
