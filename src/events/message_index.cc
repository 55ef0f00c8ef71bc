#include "events/message_index.h"

#include <algorithm>
#include <variant>

#include "common/idna.h"

namespace txmail::events {

using store::sqlite::Db;
using store::sqlite::Statement;
using store::sqlite::Transaction;

const char* status_of(Kind kind) {
  switch (kind) {
    case Kind::kStarted:
    case Kind::kProcessed:
      return "ACCEPTED";
    case Kind::kDeferred:
      return "DEFERRED";
    case Kind::kDelivered:
    case Kind::kComplained:  // after delivery: the message stays delivered
    case Kind::kUnsubscribed:
      return "DELIVERED";
    case Kind::kBouncedHard:
    case Kind::kBouncedSoft:
      return "BOUNCED";
    case Kind::kDroppedInvalidAddress:
    case Kind::kDroppedPreviouslyBounced:
    case Kind::kDroppedForbidden:
    case Kind::kDroppedValidation:
    case Kind::kDroppedProcessingFailed:
    case Kind::kDroppedPreviouslyComplained:
    case Kind::kDroppedPreviouslyUnsubscribed:
      return "DROPPED";
  }
  return "ACCEPTED";
}

namespace message_index {

// Each index ends in first_ts (and, implicitly, the rowid): a query with equality on the
// leading columns reads its rows already in the listing's order, newest or oldest first.
const char* const kSchema =
    "CREATE TABLE IF NOT EXISTS messages ("
    " seq INTEGER PRIMARY KEY, mail_id TEXT NOT NULL, job_id TEXT NOT NULL,"
    " account TEXT NOT NULL, recipient TEXT NOT NULL, sender TEXT NOT NULL,"
    " status TEXT NOT NULL, first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL,"
    " last_seq INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX IF NOT EXISTS messages_mail ON messages(mail_id);"
    "CREATE INDEX IF NOT EXISTS messages_ts ON messages(first_ts);"
    "CREATE INDEX IF NOT EXISTS messages_account ON messages(account, first_ts);"
    "CREATE INDEX IF NOT EXISTS messages_account_status ON messages(account, status, first_ts);"
    "CREATE INDEX IF NOT EXISTS messages_status ON messages(status, first_ts);"
    "CREATE INDEX IF NOT EXISTS messages_recipient ON messages(recipient, first_ts);"
    "CREATE INDEX IF NOT EXISTS messages_sender ON messages(sender, first_ts);";

const char* const kPruneSql =
    "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE first_ts < ?1"
    " AND last_ts < ?1 LIMIT 5000)";

namespace {

// The position (in the log's positions table) up to which build() indexed older events; -1
// once it is done.
constexpr const char* kBuilt = "messages.indexed";

using Arg = std::variant<std::string, std::int64_t>;

// The index a query walks: the most selective filter it has.
const char* index_for(const MessageQuery& q) {
  if (!q.recipient.empty()) {
    return "messages_recipient";
  }
  if (!q.sender.empty()) {
    return "messages_sender";
  }
  if (!q.status.empty()) {
    return q.account.empty() ? "messages_status" : "messages_account_status";
  }
  return q.account.empty() ? "messages_ts" : "messages_account";
}

// The time range [lo, hi] a query may still read, the cursor's bound included.
std::pair<std::optional<std::int64_t>, std::optional<std::int64_t>> range_of(
    const MessageQuery& q) {
  std::optional<std::int64_t> lo = q.since_ms;
  std::optional<std::int64_t> hi;
  if (q.until_ms) {
    hi = *q.until_ms - 1;
  }
  if (q.after) {
    auto& bound = q.oldest_first ? lo : hi;
    bound = q.oldest_first ? std::max(lo.value_or(q.after->ts_ms), q.after->ts_ms)
                           : std::min(hi.value_or(q.after->ts_ms), q.after->ts_ms);
  }
  return {lo, hi};
}

std::string build_sql(const MessageQuery& q, std::vector<Arg>& args) {
  std::string sql =
      "SELECT m.seq, m.mail_id, m.job_id, m.account, m.recipient, m.sender, m.status,"
      " m.first_ts, m.last_ts, e.attempt, e.remote_host, e.reply FROM messages m INDEXED BY ";
  sql += index_for(q);
  sql += " LEFT JOIN events e ON e.seq = m.last_seq WHERE 1";
  auto equal = [&](const char* column, const std::string& value) {
    if (!value.empty()) {
      sql += std::string(" AND m.") + column + " = ?";
      args.emplace_back(value);
    }
  };
  equal("recipient", q.recipient.empty() ? "" : idna::address_key(q.recipient));
  equal("sender", q.sender.empty() ? "" : idna::address_key(q.sender));
  equal("account", q.account);
  equal("status", q.status);
  const auto [lo, hi] = range_of(q);
  if (lo) {
    sql += " AND m.first_ts >= ?";
    args.emplace_back(*lo);
  }
  if (hi) {
    sql += " AND m.first_ts <= ?";
    args.emplace_back(*hi);
  }
  if (q.after) {
    sql += q.oldest_first ? " AND (m.first_ts > ? OR m.seq > ?)"
                          : " AND (m.first_ts < ? OR m.seq < ?)";
    args.emplace_back(q.after->ts_ms);
    args.emplace_back(q.after->seq);
  }
  sql += q.oldest_first ? " ORDER BY m.first_ts, m.seq" : " ORDER BY m.first_ts DESC, m.seq DESC";
  sql += " LIMIT ?";
  args.emplace_back(static_cast<std::int64_t>(q.limit));
  return sql;
}

MessageRow row_at(const Statement& st) {
  MessageRow r;
  r.seq = st.int64(0);
  r.mail_id = st.text(1);
  r.job_id = st.text(2);
  r.account = st.text(3);
  r.recipient = st.text(4);
  r.sender = st.text(5);
  r.status = st.text(6);
  r.first_ts_ms = st.int64(7);
  r.last_ts_ms = st.int64(8);
  r.attempt = static_cast<std::uint32_t>(st.int64(9));
  r.remote_host = st.text(10);
  r.reply = st.text(11);
  return r;
}

Result<std::int64_t> built_up_to(Db& db) {
  Statement st(db, "SELECT seq FROM positions WHERE name = ?");
  st.bind(1, kBuilt);
  std::int64_t seq = 0;
  if (auto done = st.each([&] { seq = st.int64(0); }); !done) {
    return tl::unexpected(done.error());
  }
  return seq;
}

// One transaction: up to 5000 events after `from` added to their rows, and the position.
Result<std::int64_t> build_some(Db& db, std::int64_t from) {
  auto tx = Transaction::begin(db);
  if (!tx) {
    return tl::unexpected(tx.error());
  }
  Statement read(db,
                 "SELECT seq, ts_ms, kind, job_id, mail_id, account, recipient, sender FROM events"
                 " WHERE seq > ? ORDER BY seq LIMIT 5000");
  read.bind(1, from);
  Statement upsert(db, upsert_sql());
  std::int64_t last = -1;  // none left: the position says "done"
  std::optional<Error> failed;
  auto done = read.each([&] {
    Event e;
    last = read.int64(0);
    e.ts_ms = read.int64(1);
    e.kind = static_cast<Kind>(read.int64(2));
    e.job_id = read.text(3);
    e.mail_id = read.text(4);
    e.account = read.text(5);
    e.recipient = read.text(6);
    e.sender = read.text(7);
    upsert.bind(9, last);
    if (auto added = add(upsert, e); !added && !failed) {
      failed = added.error();
    }
  });
  if (!done) {
    return tl::unexpected(done.error());
  }
  if (failed) {
    return tl::unexpected(*failed);
  }
  Statement pos(db, "INSERT OR REPLACE INTO positions (name, seq) VALUES (?, ?)");
  if (auto stored = pos.bind(1, kBuilt).bind(2, last).run(); !stored) {
    return tl::unexpected(stored.error());
  }
  if (auto committed = tx->commit(); !committed) {
    return tl::unexpected(committed.error());
  }
  return last;
}

}  // namespace

// ?9 is the event's seq (bound by the caller: the connection's last insert rowid).
const char* upsert_sql() {
  return "INSERT INTO messages (seq, mail_id, job_id, account, recipient, sender, status,"
         " first_ts, last_ts, last_seq) VALUES (?9, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?9)"
         " ON CONFLICT(mail_id) DO UPDATE SET last_ts = max(last_ts, excluded.last_ts),"
         " status = CASE WHEN ?8 THEN status ELSE excluded.status END,"
         " last_seq = CASE WHEN ?8 THEN last_seq ELSE excluded.last_seq END";
}

Result<void> add(Statement& upsert, const Event& e) {
  // A PROCESSED note says something about an accepted message; it never replaces an outcome.
  const bool note = e.kind == Kind::kProcessed;
  upsert.bind(1, e.mail_id).bind(2, e.job_id).bind(3, e.account).bind(4, e.recipient);
  upsert.bind(5, idna::address_key(e.sender)).bind(6, status_of(e.kind)).bind(7, e.ts_ms);
  upsert.bind(8, std::int64_t{note ? 1 : 0});
  auto done = upsert.run();
  upsert.reset();
  return done;
}

Result<void> build(Db& db) {
  auto from = built_up_to(db);
  while (from && *from >= 0) {
    auto next = build_some(db, *from);
    if (!next) {
      return tl::unexpected(next.error());
    }
    from = next;
  }
  if (!from) {
    return tl::unexpected(from.error());
  }
  return {};
}

std::string select_sql(const MessageQuery& q) {
  std::vector<Arg> args;
  return build_sql(q, args);
}

Result<std::vector<MessageRow>> find(Db& db, const MessageQuery& q) {
  std::vector<Arg> args;
  Statement st(db, build_sql(q, args));
  for (std::size_t i = 0; i < args.size(); ++i) {
    const int at = static_cast<int>(i) + 1;
    std::visit([&](const auto& v) { st.bind(at, v); }, args[i]);
  }
  std::vector<MessageRow> out;
  if (auto done = st.each([&] { out.push_back(row_at(st)); }); !done) {
    return tl::unexpected(done.error());
  }
  return out;
}

}  // namespace message_index

}  // namespace txmail::events
