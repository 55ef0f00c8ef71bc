#include "store/capture_store.h"

namespace txmail::store {

namespace {

// AUTOINCREMENT: a sequence number is never given twice, so a cursor stays valid while the
// oldest rows are dropped under it.
constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS captures ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, mail_id TEXT NOT NULL UNIQUE,"
    " job_id TEXT NOT NULL, account TEXT NOT NULL, sender TEXT NOT NULL,"
    " recipient TEXT NOT NULL, captured_ms INTEGER NOT NULL, size INTEGER NOT NULL,"
    " message BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS captures_account ON captures(account, seq);";

constexpr const char* kColumns =
    "seq, mail_id, job_id, account, sender, recipient, captured_ms, size";

CapturedMessage read_row(const sqlite::Statement& st) {
  CapturedMessage m;
  m.seq = st.int64(0);
  m.mail_id = st.text(1);
  m.job_id = st.text(2);
  m.account = st.text(3);
  m.sender = st.text(4);
  m.recipient = st.text(5);
  m.captured_ms = st.int64(6);
  m.size = st.int64(7);
  return m;
}

}  // namespace

Result<std::unique_ptr<CaptureStore>> CaptureStore::open(const std::string& path,
                                                         CaptureLimits limits) {
  sqlite::OpenOptions options;
  options.wal = true;
  options.synchronous = sqlite::OpenOptions::Synchronous::kNormal;
  options.schema = kSchema;
  auto db = sqlite::Db::open(path, "sandbox capture store", options);
  if (!db) {
    return tl::unexpected(db.error());
  }
  limits.max_messages = std::max<std::size_t>(limits.max_messages, 1);
  return std::unique_ptr<CaptureStore>(new CaptureStore(std::move(*db), limits));
}

CaptureStore::~CaptureStore() = default;

Result<std::size_t> CaptureStore::put(const std::vector<CapturedMessage>& messages) {
  std::lock_guard lock(mutex_);
  auto tx = sqlite::Transaction::begin(db_);
  if (!tx) {
    return tl::unexpected(tx.error());
  }
  sqlite::Statement insert(
      db_,
      "INSERT OR REPLACE INTO captures (mail_id, job_id, account, sender, recipient, "
      "captured_ms, size, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  for (const auto& m : messages) {
    insert.reset();
    insert.bind(1, m.mail_id).bind(2, m.job_id).bind(3, m.account).bind(4, m.sender);
    insert.bind(5, m.recipient).bind(6, m.captured_ms);
    insert.bind(7, static_cast<std::int64_t>(m.message.size())).bind_blob(8, m.message);
    if (auto r = insert.run(); !r) {
      return tl::unexpected(r.error());
    }
  }
  auto dropped = trim();
  if (!dropped) {
    return tl::unexpected(dropped.error());
  }
  if (auto r = tx->commit(); !r) {
    return tl::unexpected(r.error());
  }
  return *dropped;
}

// The oldest rows go until both limits hold; the newest row always stays (a message larger
// than max_bytes is kept alone rather than lost at once).
Result<std::size_t> CaptureStore::trim() {
  sqlite::Statement sum(db_, "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM captures");
  auto got = sum.step();
  if (!got) {
    return tl::unexpected(got.error());
  }
  auto count = static_cast<std::size_t>(sum.int64(0));
  std::int64_t bytes = sum.int64(1);
  auto over = [&] {
    return count > 1 && (count > limits_.max_messages || bytes > limits_.max_bytes);
  };
  if (!over()) {
    return std::size_t{0};
  }
  sqlite::Statement oldest(db_, "SELECT seq, size FROM captures ORDER BY seq");
  std::int64_t cutoff = 0;
  std::size_t dropped = 0;
  while (over()) {
    auto row = oldest.step();
    if (!row) {
      return tl::unexpected(row.error());
    }
    if (!*row) {
      break;
    }
    cutoff = oldest.int64(0);
    bytes -= oldest.int64(1);
    --count;
    ++dropped;
  }
  oldest.reset();
  sqlite::Statement erase(db_, "DELETE FROM captures WHERE seq <= ?");
  erase.bind(1, cutoff);
  if (auto r = erase.run(); !r) {
    return tl::unexpected(r.error());
  }
  return dropped;
}

Result<std::vector<CapturedMessage>> CaptureStore::list(const CaptureQuery& query) {
  std::lock_guard lock(mutex_);
  const std::int64_t before = query.before_seq > 0 ? query.before_seq : INT64_MAX;
  const std::string sql = std::string("SELECT ") + kColumns + " FROM captures WHERE seq < ?"
                          + (query.account.empty() ? "" : " AND account = ?")
                          + " ORDER BY seq DESC LIMIT ?";
  sqlite::Statement st(db_, sql);
  int i = 1;
  st.bind(i++, before);
  if (!query.account.empty()) {
    st.bind(i++, query.account);
  }
  st.bind(i, static_cast<std::int64_t>(query.limit));
  std::vector<CapturedMessage> out;
  if (auto r = st.each([&] { out.push_back(read_row(st)); }); !r) {
    return tl::unexpected(r.error());
  }
  return out;
}

Result<std::optional<CapturedMessage>> CaptureStore::get(const std::string& mail_id) {
  std::lock_guard lock(mutex_);
  sqlite::Statement st(
      db_, std::string("SELECT ") + kColumns + ", message FROM captures WHERE mail_id = ?");
  st.bind(1, mail_id);
  auto row = st.step();
  if (!row) {
    return tl::unexpected(row.error());
  }
  if (!*row) {
    return std::optional<CapturedMessage>();
  }
  CapturedMessage m = read_row(st);
  m.message = st.text(8);
  return std::optional<CapturedMessage>(std::move(m));
}

Result<CaptureStore::Totals> CaptureStore::totals() {
  std::lock_guard lock(mutex_);
  sqlite::Statement st(db_, "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM captures");
  auto row = st.step();
  if (!row) {
    return tl::unexpected(row.error());
  }
  return Totals{static_cast<std::size_t>(st.int64(0)), st.int64(1)};
}

}  // namespace txmail::store
