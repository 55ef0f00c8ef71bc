#include "events/webhook_batches.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>
#include <map>
#include <optional>

#include "common/base64.h"
#include "common/duration.h"
#include "common/ids.h"
#include "common/log.h"

namespace txmail::events::webhook {

namespace http = boost::beast::http;
namespace json = boost::json;

const char* const kStateSchema =
    "CREATE TABLE IF NOT EXISTS position (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT "
    "NULL);"
    "INSERT OR IGNORE INTO position (id, seq) VALUES (1, 0);"
    // Batches waiting for their first or next try, per endpoint (issue hooks-2).
    "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, endpoint_key TEXT NOT NULL,"
    " account TEXT NOT NULL, job_id TEXT NOT NULL, endpoint TEXT NOT NULL, body TEXT NOT NULL,"
    " notifications INTEGER NOT NULL, attempt INTEGER NOT NULL, next_ms INTEGER NOT NULL,"
    " last_error TEXT NOT NULL, created_ms INTEGER NOT NULL, ack TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(endpoint_key, next_ms, id);"
    // Before issue hooks-2 only failed batches were stored, here: moved to the outbox at open.
    "CREATE TABLE IF NOT EXISTS retries (id INTEGER PRIMARY KEY, account TEXT NOT NULL,"
    " job_id TEXT NOT NULL, endpoint TEXT NOT NULL, body TEXT NOT NULL, notifications INTEGER NOT "
    "NULL,"
    " attempt INTEGER NOT NULL, next_ms INTEGER NOT NULL, last_error TEXT NOT NULL, created_ms "
    "INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS dead (id INTEGER PRIMARY KEY, account TEXT NOT NULL,"
    " job_id TEXT NOT NULL, endpoint TEXT NOT NULL, body TEXT NOT NULL, notifications INTEGER NOT "
    "NULL,"
    " attempt INTEGER NOT NULL, next_ms INTEGER NOT NULL, last_error TEXT NOT NULL, created_ms "
    "INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS dead_account ON dead(account, id);";

namespace {

std::string body_of(const std::vector<const LoggedEvent*>& rows) {
  const LoggedEvent& first = *rows.front();
  json::object meta{{"version", "1"},
                    {"jobId", first.event.job_id},
                    {"account", first.event.account},
                    {"customerNo", first.event.account},
                    {"receivedTs", iso8601_ms(first.job.received_ms > 0 ? first.job.received_ms
                                                                        : first.event.ts_ms)}};
  if (!first.job.reference_job.empty()) {
    meta["referenceJob"] = first.job.reference_job;
  }
  if (!first.job.campaign_id.empty()) {
    meta["campaignId"] = first.job.campaign_id;
  }
  if (!first.job.cost_center.empty()) {
    meta["costCenter"] = first.job.cost_center;
  }
  json::array list;
  for (const LoggedEvent* r : rows) {
    const Event& e = r->event;
    json::object mail{{"id", e.mail_id}, {"email", e.recipient}, {"from", e.sender}};
    if (!r->job.mime_from.empty()) {
      mail["mimeFrom"] = r->job.mime_from;
    }
    list.push_back(json::object{
        {"meta", json::object{{"tag", e.tag},
                              {"mail", std::move(mail)},
                              {"event", json::object{{"type", e.type()},
                                                     {"phase", e.phase()},
                                                     {"state", e.state()},
                                                     {"subType", e.sub_type()},
                                                     {"ts", iso8601_ms(e.ts_ms)},
                                                     {"description", e.description()}}}}}});
  }
  return json::serialize(
      json::object{{"meta", std::move(meta)}, {"notifications", std::move(list)}});
}

std::string hmac_hex(const std::string& key, const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return hex(std::string_view(reinterpret_cast<const char*>(md), len));
}

// Header names an endpoint's own headers never replace: the signature, the credentials we set,
// and what frames the request.
bool reserved_header(const std::string& name) {
  static const char* const kReserved[] = {"host",
                                          "connection",
                                          "content-length",
                                          "content-type",
                                          "transfer-encoding",
                                          "x-txmail-signature",
                                          "te",
                                          "upgrade",
                                          "expect",
                                          "keep-alive",
                                          "trailer"};
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::find(std::begin(kReserved), std::end(kReserved), lower) != std::end(kReserved);
}

}  // namespace

std::string endpoint_key(const std::string& url) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(url.data(), url.size(), md, &len, EVP_sha256(), nullptr);
  return hex(std::string_view(reinterpret_cast<const char*>(md), 16));
}

Result<ReadRound> read_round(EventLog& log, std::int64_t from, std::size_t chunk,
                             std::size_t batch_max, const WebhookDispatcher::Deps& deps,
                             const std::string& origin) {
  auto read =
      origin.empty() ? log.read_after(from, chunk) : log.read_copies_after(origin, from, chunk);
  if (!read) {
    return tl::unexpected(read.error());
  }
  const std::vector<LoggedEvent>& rows = *read;
  if (rows.empty()) {
    return ReadRound{};
  }
  // Group by (endpoint, job), in log order; a job's own endpoint, else its account's.
  std::map<std::string, std::optional<Endpoint>> account_endpoints;
  std::map<std::string, std::optional<Endpoint>> job_endpoints;
  std::vector<std::pair<std::pair<std::string, std::string>, std::vector<const LoggedEvent*>>>
      groups;
  std::map<std::pair<std::string, std::string>, std::size_t> group_of;
  for (const auto& r : rows) {
    if (r.event.origin != origin) {
      continue;  // another node's event (cluster mode): that node notifies
    }
    auto jit = job_endpoints.find(r.event.job_id);
    if (jit == job_endpoints.end()) {
      std::optional<Endpoint> ep;
      if (!r.job.endpoint_sealed.empty()) {
        auto plain = deps.open(r.job.endpoint_sealed, "endpoint:" + r.event.job_id);
        if (plain) {
          ep = endpoint_from_json(*plain);
        } else {
          logger()->error("webhooks: job {}: endpoint cannot be unsealed: {}", r.event.job_id,
                          plain.error().detail);
        }
      }
      if (!ep) {
        auto ait = account_endpoints.find(r.event.account);
        if (ait == account_endpoints.end()) {
          ait = account_endpoints.emplace(r.event.account, deps.account_endpoint(r.event.account))
                    .first;
        }
        ep = ait->second;
      }
      jit = job_endpoints.emplace(r.event.job_id, std::move(ep)).first;
    }
    if (!jit->second || jit->second->empty()) {
      continue;  // nobody listens for this job
    }
    auto key = std::make_pair(to_json(*jit->second), r.event.job_id);
    auto git = group_of.find(key);
    if (git == group_of.end() || groups[git->second].second.size() >= batch_max) {
      group_of[key] = groups.size();
      groups.emplace_back(key, std::vector<const LoggedEvent*>{});
      git = group_of.find(key);
    }
    groups[git->second].second.push_back(&r);
  }
  ReadRound round;
  round.last_seq = rows.back().seq;
  round.batches.reserve(groups.size());
  for (const auto& [key, list] : groups) {
    NewBatch b;
    b.endpoint = *job_endpoints[key.second];
    b.account = list.front()->event.account;
    b.job_id = key.second;
    b.body = body_of(list);
    b.notifications = list.size();
    b.first_seq = list.front()->seq;
    b.last_seq = list.back()->seq;
    round.batches.push_back(std::move(b));
  }
  return round;
}

http::request<http::string_body> request_for(const Endpoint& endpoint, const std::string& body,
                                             const std::string& secret, const net::HttpUrl& url) {
  http::request<http::string_body> req{http::verb::post, url.target, 11};
  for (const auto& [k, v] : endpoint.headers) {
    if (!reserved_header(k)) {
      req.set(k, v);
    }
  }
  req.set(http::field::host, url.host);
  req.set(http::field::user_agent, "txmail-webhooks");
  req.set(http::field::content_type, "application/json");
  const std::string t = std::to_string(now_ms() / 1000);
  req.set("X-Txmail-Signature", "t=" + t + ",v1=" + hmac_hex(secret, t + "." + body));
  if (!endpoint.user.empty() || !endpoint.password.empty()) {
    req.set(http::field::authorization,
            "Basic " + base64_encode(endpoint.user + ":" + endpoint.password));
  }
  req.body() = body;
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

// Moves rows of `table` ("retries": as they are; "dead": afresh, no try made, due now) into
// the outbox, keyed by their endpoint; `where` selects them with one text parameter. Inside
// the caller's transaction: on an error the caller rolls back. How many.
Result<std::size_t> move_to_outbox(Db& state, const WebhookDispatcher::Deps& deps,
                                   const std::string& table, const std::string& where,
                                   const std::string& param) {
  std::vector<std::pair<std::int64_t, std::string>> keyed;
  Statement q(state, "SELECT id, job_id, endpoint FROM " + table + " WHERE " + where);
  q.bind(1, param);
  auto read = q.each([&] {
    auto plain = deps.open(q.text(2), "webhook:" + q.text(1));
    auto ep = plain ? endpoint_from_json(*plain) : std::nullopt;
    keyed.emplace_back(q.int64(0), ep ? endpoint_key(ep->url) : std::string());
  });
  if (!read) {
    return tl::unexpected(read.error());
  }
  const std::string tries = table == "dead" ? "0, 0" : "attempt, next_ms";
  Statement ins(state,
                "INSERT INTO outbox (endpoint_key, account, job_id, endpoint, body, notifications,"
                " attempt, next_ms, last_error, created_ms) SELECT ?, account, job_id, endpoint,"
                " body, notifications, "
                    + tries + ", last_error, created_ms FROM " + table + " WHERE id = ?");
  Statement del(state, "DELETE FROM " + table + " WHERE id = ?");
  for (const auto& [id, key] : keyed) {
    ins.bind(1, key).bind(2, id);
    if (auto done = ins.run(); !done) {
      return tl::unexpected(done.error());
    }
    if (state.changes() != 1) {  // the row must have been copied before it goes
      return make_error(ErrorCode::kInternal, state.name() + ": " + table + " row "
                                                  + std::to_string(id)
                                                  + " was not copied to the outbox");
    }
    del.bind(1, id);
    if (auto done = del.run(); !done) {
      return tl::unexpected(done.error());
    }
    ins.reset();
    del.reset();
  }
  return keyed.size();
}

Result<std::vector<DeadLetter>> list_dead(Db& state, const WebhookDispatcher::Deps& deps,
                                          const std::string& account, std::size_t limit) {
  Statement q(
      state,
      account.empty()
          ? "SELECT id, account, job_id, endpoint, attempt, last_error, created_ms, notifications"
            " FROM dead WHERE ? = '' ORDER BY id LIMIT ?"
          : "SELECT id, account, job_id, endpoint, attempt, last_error, created_ms, notifications"
            " FROM dead WHERE account = ? ORDER BY id LIMIT ?");
  q.bind(1, account).bind(2, static_cast<std::int64_t>(limit));
  std::vector<DeadLetter> out;
  auto read = q.each([&] {
    DeadLetter d;
    d.id = q.int64(0);
    d.account = q.text(1);
    d.job_id = q.text(2);
    auto plain = deps.open(q.text(3), "webhook:" + d.job_id);
    auto ep = plain ? endpoint_from_json(*plain) : std::nullopt;
    d.url = ep ? ep->url : "";
    d.attempts = static_cast<int>(q.int64(4));
    d.last_error = q.text(5);
    d.created_ms = q.int64(6);
    d.notifications = static_cast<std::size_t>(q.int64(7));
    out.push_back(std::move(d));
  });
  if (!read) {
    return tl::unexpected(read.error());
  }
  return out;
}

Result<std::size_t> replay_dead(Db& state, const WebhookDispatcher::Deps& deps,
                                const std::string& account) {
  auto tx = Transaction::begin(state);
  auto moved = tx.and_then([&](Transaction&) {
    return move_to_outbox(state, deps, "dead", account.empty() ? "? = ''" : "account = ?", account);
  });
  if (auto committed = moved.and_then([&](std::size_t) { return tx->commit(); }); !committed) {
    return tl::unexpected(Error{committed.error().code, "replay: " + committed.error().detail});
  }
  return moved;
}

Result<void> prepare_outbox(Db& state, const WebhookDispatcher::Deps& deps) {
  // Batches stored by a node before issue hooks-2 (failed ones only, in `retries`) move to the
  // outbox, keyed by their endpoint.
  {
    auto tx = Transaction::begin(state);
    auto moved =
        tx.and_then([&](auto&) { return move_to_outbox(state, deps, "retries", "? = ''", ""); });
    auto committed = moved.and_then([&](std::size_t) { return tx->commit(); });
    if (!committed) {
      logger()->error("webhooks: cannot move old retries to the outbox: {}",
                      committed.error().detail);
    }
  }
  bool has_ack = false;
  Statement q(state, "SELECT name FROM pragma_table_info('outbox')");
  if (auto read = q.each([&] { has_ack = has_ack || q.text(0) == "ack"; }); !read) {
    return read;
  }
  if (!has_ack) {
    if (auto added = state.exec("ALTER TABLE outbox ADD COLUMN ack TEXT NOT NULL DEFAULT ''");
        !added) {
      return added;
    }
  }
  return state.exec("DELETE FROM outbox WHERE ack != ''");
}

Result<std::vector<Batch>> load_due(Db& state, const WebhookDispatcher::Deps& deps,
                                    const std::string& key, const std::set<std::int64_t>& busy,
                                    std::size_t n, std::int64_t now) {
  std::string sql =
      "SELECT id, account, job_id, endpoint, body, notifications, attempt, ack FROM outbox"
      " WHERE endpoint_key = ? AND next_ms <= ?";
  if (!busy.empty()) {
    sql += " AND id NOT IN (";
    for (auto it = busy.begin(); it != busy.end(); ++it) {
      sql += (it == busy.begin() ? "" : ",") + std::to_string(*it);
    }
    sql += ")";
  }
  sql += " ORDER BY next_ms, id LIMIT ?";
  std::vector<Batch> out;
  std::vector<std::int64_t> unreadable;
  Statement q(state, sql);
  q.bind(1, key).bind(2, now).bind(3, static_cast<std::int64_t>(n));
  auto read = q.each([&] {
    Batch b;
    b.id = q.int64(0);
    b.account = q.text(1);
    b.job_id = q.text(2);
    auto plain = deps.open(q.text(3), "webhook:" + b.job_id);
    auto ep = plain ? endpoint_from_json(*plain) : std::nullopt;
    if (!ep) {
      unreadable.push_back(b.id);
      return;
    }
    b.endpoint = std::move(*ep);
    b.body = q.text(4);
    b.notifications = static_cast<std::size_t>(q.int64(5));
    b.attempt = static_cast<int>(q.int64(6));
    b.handle = q.text(7);
    out.push_back(std::move(b));
  });
  if (!read) {
    return tl::unexpected(read.error());
  }
  for (auto id : unreadable) {
    Statement del(state, "DELETE FROM outbox WHERE id = ?");
    auto done = del.bind(1, id).run();
    logger()->error("webhooks: outbox row {} has an unreadable endpoint; {}", id,
                    done ? "dropped" : "cannot be dropped: " + done.error().detail);
  }
  return out;
}

Result<StoredBatches> store_queued(Db& state, const WebhookDispatcher::Deps& deps,
                                   const std::vector<QueuedBatch>& batches, std::size_t lane_cap) {
  StoredBatches out;
  std::map<std::string, std::size_t> held;  // the queue's rows per lane
  Statement count(state,
                  "SELECT endpoint_key, count(*) FROM outbox WHERE ack != ''"
                  " GROUP BY endpoint_key");
  if (auto read =
          count.each([&] { held[count.text(0)] = static_cast<std::size_t>(count.int64(1)); });
      !read) {
    return tl::unexpected(read.error());
  }
  auto tx = Transaction::begin(state);
  if (!tx) {
    return tl::unexpected(tx.error());
  }
  Statement ins(state,
                "INSERT INTO outbox (endpoint_key, account, job_id, endpoint, body, notifications,"
                " attempt, next_ms, last_error, created_ms, ack) VALUES (?,?,?,?,?,?,?,0,'',?,?)");
  const std::int64_t now = now_ms();
  for (const auto& b : batches) {
    auto plain = deps.open(b.endpoint, "webhook:" + b.job_id);
    auto ep = plain ? endpoint_from_json(*plain) : std::nullopt;
    if (!ep) {
      out.unreadable.push_back(b.handle);
      continue;
    }
    const std::string key = endpoint_key(ep->url);
    if (held[key] >= lane_cap) {
      out.over.push_back(&b);
      continue;
    }
    ++held[key];
    ins.bind(1, key).bind(2, b.account).bind(3, b.job_id).bind(4, b.endpoint).bind(5, b.body);
    ins.bind(6, static_cast<std::int64_t>(b.notifications)).bind(7, std::int64_t{b.attempt});
    ins.bind(8, now).bind(9, b.handle);
    if (auto done = ins.run(); !done) {
      return tl::unexpected(done.error());
    }
    ins.reset();
    out.keys.insert(key);
  }
  if (auto committed = tx->commit(); !committed) {
    return tl::unexpected(committed.error());
  }
  return out;
}

Result<std::vector<std::string>> take_queued(Db& state, const std::string& key,
                                             const std::set<std::int64_t>& busy) {
  std::vector<std::pair<std::int64_t, std::string>> rows;
  Statement q(state, "SELECT id, ack FROM outbox WHERE endpoint_key = ? AND ack != ''");
  q.bind(1, key);
  if (auto read = q.each([&] {
        if (!busy.contains(q.int64(0))) {
          rows.emplace_back(q.int64(0), q.text(1));
        }
      });
      !read) {
    return tl::unexpected(read.error());
  }
  std::vector<std::string> handles;
  if (rows.empty()) {
    return handles;
  }
  auto tx = Transaction::begin(state);
  if (!tx) {
    return tl::unexpected(tx.error());
  }
  Statement del(state, "DELETE FROM outbox WHERE id = ?");
  for (auto& [id, handle] : rows) {
    if (auto done = del.bind(1, id).run(); !done) {
      return tl::unexpected(done.error());
    }
    del.reset();
    handles.push_back(std::move(handle));
  }
  if (auto committed = tx->commit(); !committed) {
    return tl::unexpected(committed.error());
  }
  return handles;
}

}  // namespace txmail::events::webhook

namespace txmail::events {

std::vector<std::chrono::milliseconds> default_retry_schedule() {
  std::vector<std::chrono::milliseconds> out(7, std::chrono::minutes(2));
  out.insert(out.end(), 8, std::chrono::minutes(8));
  return out;
}

}  // namespace txmail::events
