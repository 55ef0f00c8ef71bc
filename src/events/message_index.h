// The message index of the event log (issue console-1, item 1): one row per message (a mail id,
// one recipient of a job) with its latest status, kept by the log's writer in the same
// transaction as the events it summarizes, so message search (GET /v2/messages?...) and the
// deliveries report never scan the events. The table `messages` lives in the log's file; its
// rowid is the sequence number of the message's first stored event, and its indexes all end in
// (first_ts, rowid), so every query walks one index in the order of its cursor.
//
// Invariants: a row's first_ts and rowid never change once written (a cursor built from them
// is stable while events are added); a PROCESSED note does not move a recipient's status back
// (as GET /v2/jobs/{id} shows it); copies of other nodes' events (cluster mode) count like
// this node's own. Rows go with their events when retention removes both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "events/event.h"
#include "store/sqlite.h"

namespace txmail::events {

// The state a recipient is in after this event: ACCEPTED, DEFERRED, DELIVERED, BOUNCED, DROPPED.
const char* status_of(Kind kind);

// A position in a listing: the (first_ts, seq) of the last row seen.
struct MessageCursor {
  std::int64_t ts_ms = 0;
  std::int64_t seq = 0;
};

// What to find. Empty strings and absent times do not filter.
struct MessageQuery {
  std::string account;
  std::string recipient;                 // compared in the log's form (idna::address_key)
  std::string sender;                    // likewise
  std::string status;                    // one of status_of()'s names
  std::optional<std::int64_t> since_ms;  // first event at or after
  std::optional<std::int64_t> until_ms;  // first event before
  std::optional<MessageCursor> after;    // rows past this one, in the listing's order
  bool oldest_first = false;             // else newest first
  std::size_t limit = 100;
};

// One message: its ids and addresses, latest status and the latest event's details.
struct MessageRow {
  std::int64_t seq = 0;  // of its first event
  std::string mail_id;
  std::string job_id;
  std::string account;
  std::string recipient;
  std::string sender;
  std::string status;
  std::int64_t first_ts_ms = 0;
  std::int64_t last_ts_ms = 0;
  std::uint32_t attempt = 0;  // of the latest event
  std::string remote_host;    // of the latest event
  std::string reply;          // of the latest event

  MessageCursor cursor() const { return {first_ts_ms, seq}; }
};

// What message search reads; SqliteEventLog implements it.
class MessageSearch {
 public:
  MessageSearch() = default;
  MessageSearch(const MessageSearch&) = delete;
  MessageSearch& operator=(const MessageSearch&) = delete;
  MessageSearch(MessageSearch&&) = delete;
  MessageSearch& operator=(MessageSearch&&) = delete;
  virtual ~MessageSearch() = default;

  virtual Result<std::vector<MessageRow>> search(const MessageQuery& query) = 0;
};

namespace message_index {

// The table and its indexes (CREATE ... IF NOT EXISTS: added to older logs at open).
extern const char* const kSchema;

// Adds the event just inserted into `events` (its seq is the connection's last_insert_rowid) to
// its message's row. One prepared statement per batch: `upsert` is made by upsert_sql().
const char* upsert_sql();
Result<void> add(store::sqlite::Statement& upsert, const Event& e);

// Indexes the events stored before the index existed (a log from an older version), a few
// thousand per transaction; resumes where it stopped. Writer connection, before any append.
Result<void> build(store::sqlite::Db& db);

// The SELECT for a query (the index it uses named by INDEXED BY) and its bindings' order:
// exposed for the EXPLAIN QUERY PLAN test.
std::string select_sql(const MessageQuery& q);
Result<std::vector<MessageRow>> find(store::sqlite::Db& db, const MessageQuery& q);

// Deletes up to 5000 rows whose every event is older than the cutoff (?1).
extern const char* const kPruneSql;

}  // namespace message_index

}  // namespace txmail::events
