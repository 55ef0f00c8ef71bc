#include "events/webhooks.h"

#include <openssl/hmac.h>
#include <sqlite3.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <latch>
#include <map>
#include <random>

#include "common/base64.h"
#include "common/duration.h"
#include "common/ids.h"
#include "common/log.h"
#include "net/asio.h"
#include "net/http_url.h"

namespace txmail::events {

namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;

namespace {

constexpr const char* kStateSchema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS position (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO position (id, seq) VALUES (1, 0);"
    "CREATE TABLE IF NOT EXISTS retries (id INTEGER PRIMARY KEY, account TEXT NOT NULL,"
    " job_id TEXT NOT NULL, endpoint TEXT NOT NULL, body TEXT NOT NULL, notifications INTEGER NOT NULL,"
    " attempt INTEGER NOT NULL, next_ms INTEGER NOT NULL, last_error TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS retries_next ON retries(next_ms);"
    "CREATE TABLE IF NOT EXISTS dead (id INTEGER PRIMARY KEY, account TEXT NOT NULL,"
    " job_id TEXT NOT NULL, endpoint TEXT NOT NULL, body TEXT NOT NULL, notifications INTEGER NOT NULL,"
    " attempt INTEGER NOT NULL, next_ms INTEGER NOT NULL, last_error TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS dead_account ON dead(account, id);";

struct Stmt {
  sqlite3_stmt* st = nullptr;
  Stmt(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
      logger()->error("webhooks: sql: {}", sqlite3_errmsg(db));
    }
  }
  ~Stmt() { sqlite3_finalize(st); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt(Stmt&&) = delete;
  Stmt& operator=(Stmt&&) = delete;
  void text(int i, const std::string& s) { sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT); }
  void integer(int i, std::int64_t v) { sqlite3_bind_int64(st, i, v); }
  std::string col(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
    return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i)));
  }
  std::int64_t num(int i) const { return sqlite3_column_int64(st, i); }
};

// One event read from the log, with its job's data.
struct Row {
  std::int64_t seq = 0;
  Event event;
  std::int64_t received_ms = 0;
  std::string mime_from;
  std::string reference_job;
  std::string campaign_id;
  std::string cost_center;
  std::string endpoint_sealed;
};

enum class Verdict { kDelivered, kRefused, kRetry };

struct Attempt {
  Verdict verdict = Verdict::kRetry;
  std::string error;
};

// A POST to make: one (endpoint, job) batch.
struct Batch {
  Endpoint endpoint;
  std::string account;
  std::string job_id;
  std::string body;
  std::size_t notifications = 0;
  std::int64_t retry_id = 0;  // a row of `retries` being tried again (0: new)
  int attempt = 0;            // tries made before this one
  Attempt result;
};

std::string hmac_hex(const std::string& key, const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return hex(std::string_view(reinterpret_cast<const char*>(md), len));
}

using Url = net::HttpUrl;

// One HTTP/1.1 connection to one endpoint, kept alive while a lane uses it.
class Client {
 public:
  Client(const WebhookOptions& options, std::shared_ptr<asio::ssl::context> tls)
      : options_(options), tls_(std::move(tls)) {}

  Attempt post(const Url& url, http::request<http::string_body>& req) {
    const std::string key = (url.tls ? "https://" : "http://") + url.host + ":" + url.port;
    for (int round = 0; round < 2; ++round) {
      const bool reused = key == key_ && (plain_ || secure_);
      if (!reused) {
        if (auto err = connect(url); !err.empty()) {
          return {err.starts_with("refused") ? Verdict::kRefused : Verdict::kRetry, err};
        }
        key_ = key;
      }
      beast::error_code ec;
      http::response<http::string_body> res;
      exchange(req, res, ec);
      if (ec) {
        reset();
        if (reused && round == 0) {
          continue;  // the server closed an idle kept-alive connection: once more, fresh
        }
        return {Verdict::kRetry, "network: " + ec.message()};
      }
      if (!res.keep_alive()) {
        reset();
      }
      const int status = static_cast<int>(res.result_int());
      if (status >= 200 && status < 300) {
        return {Verdict::kDelivered, {}};
      }
      const std::string what = "HTTP " + std::to_string(status);
      if ((status >= 301 && status <= 308) || (status >= 400 && status <= 406)) {
        return {Verdict::kRefused, what};
      }
      return {Verdict::kRetry, what};
    }
    return {Verdict::kRetry, "network: connection lost"};
  }

 private:
  void reset() {
    plain_.reset();
    secure_.reset();
    key_.clear();
  }

  template <typename Op>
  beast::error_code run(Op op) {
    beast::error_code result = asio::error::timed_out;
    bool done = false;
    op([&](beast::error_code ec, auto&&...) {
      result = ec;
      done = true;
    });
    io_.restart();
    io_.run();
    return done ? result : beast::error_code(asio::error::timed_out);
  }

  std::string connect(const Url& url) {
    reset();
    tcp::resolver resolver(io_);
    beast::error_code ec;
    const auto found = resolver.resolve(url.host, url.port, ec);
    if (ec) {
      return "network: cannot resolve " + url.host + ": " + ec.message();
    }
    std::vector<tcp::endpoint> targets;
    for (const auto& r : found) {
      if (!options_.allow_private_targets && private_address(r.endpoint().address().to_string())) {
        return "refused: " + url.host + " resolves to " + r.endpoint().address().to_string()
               + ", a loopback, private or link-local address ([notifications] allow_private_targets)";
      }
      targets.push_back(r.endpoint());
    }
    if (targets.empty()) {
      return "network: " + url.host + " has no address";
    }
    beast::tcp_stream stream(io_);
    for (const auto& target : targets) {
      beast::error_code cec;
      stream.socket().close(cec);
      stream.socket().open(target.protocol(), cec);
      if (!cec && !options_.source_address.empty()) {
        const auto source = asio::ip::make_address(options_.source_address, cec);
        if (!cec && source.is_v4() == target.address().is_v4()) {
          stream.socket().bind(tcp::endpoint(source, 0), cec);
        }
      }
      if (cec) {
        ec = cec;
        continue;
      }
      stream.expires_after(options_.timeout);
      ec = run([&](auto handler) { stream.async_connect(target, handler); });
      if (!ec) {
        break;
      }
    }
    if (ec) {
      return "network: cannot connect to " + url.host + ":" + url.port + ": " + ec.message();
    }
    if (!url.tls) {
      plain_.emplace(std::move(stream));
      return {};
    }
    secure_.emplace(std::move(stream), *tls_);
    SSL_set_tlsext_host_name(secure_->native_handle(), url.host.c_str());
    secure_->set_verify_callback(asio::ssl::host_name_verification(url.host));
    beast::get_lowest_layer(*secure_).expires_after(options_.timeout);
    ec = run([&](auto handler) { secure_->async_handshake(asio::ssl::stream_base::client, handler); });
    if (ec) {
      reset();
      return "network: TLS with " + url.host + ": " + ec.message();
    }
    return {};
  }

  void exchange(http::request<http::string_body>& req, http::response<http::string_body>& res,
                beast::error_code& ec) {
    beast::flat_buffer buffer;
    if (plain_) {
      plain_->expires_after(options_.timeout);
      ec = run([&](auto handler) { http::async_write(*plain_, req, handler); });
      if (!ec) {
        plain_->expires_after(options_.timeout);
        ec = run([&](auto handler) { http::async_read(*plain_, buffer, res, handler); });
      }
    } else {
      beast::get_lowest_layer(*secure_).expires_after(options_.timeout);
      ec = run([&](auto handler) { http::async_write(*secure_, req, handler); });
      if (!ec) {
        beast::get_lowest_layer(*secure_).expires_after(options_.timeout);
        ec = run([&](auto handler) { http::async_read(*secure_, buffer, res, handler); });
      }
    }
  }

  const WebhookOptions& options_;
  std::shared_ptr<asio::ssl::context> tls_;
  asio::io_context io_;
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure_;
  std::string key_;
};

}  // namespace

bool private_address(const std::string& ip) {
  boost::system::error_code ec;
  const auto a = asio::ip::make_address(ip, ec);
  if (ec) {
    return true;
  }
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    return a.is_loopback() || a.is_unspecified() || a.is_multicast() || b[0] == 10
           || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168)
           || (b[0] == 169 && b[1] == 254) || (b[0] == 100 && (b[1] & 0xC0) == 64) || b[0] == 0;
  }
  const auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) {
    return private_address(asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string());
  }
  const auto b = v6.to_bytes();
  return v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || v6.is_link_local()
         || (b[0] & 0xFE) == 0xFC;
}

std::vector<std::chrono::milliseconds> default_retry_schedule() {
  std::vector<std::chrono::milliseconds> out;
  for (int i = 0; i < 7; ++i) {
    out.emplace_back(std::chrono::minutes(2));
  }
  for (int i = 0; i < 8; ++i) {
    out.emplace_back(std::chrono::minutes(8));
  }
  return out;
}

struct WebhookDispatcher::Impl {
  Deps deps;
  WebhookOptions options;
  sqlite3* events = nullptr;
  sqlite3* state = nullptr;
  std::mutex state_mutex;  // the loop and the API share the state connection
  std::shared_ptr<asio::ssl::context> tls;
  std::unique_ptr<asio::thread_pool> senders;
  std::thread loop;
  std::mutex wake_mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::mt19937_64 rng{std::random_device{}()};
  std::atomic<std::uint64_t> posts{0}, delivered{0}, refused{0}, failures{0}, dead{0};
  std::atomic<std::int64_t> last_seq{0};
  std::atomic<std::int64_t> head{0};  // the log's last seq at the latest round

  ~Impl() {
    sqlite3_close(events);
    sqlite3_close(state);
  }

  std::chrono::milliseconds jittered(std::chrono::milliseconds base) {
    std::uniform_real_distribution<double> d(0.75, 1.25);
    return std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(base.count()) * d(rng)));
  }

  std::string body_of(const std::vector<const Row*>& rows) const {
    const Row& first = *rows.front();
    json::object meta{{"version", "1"},
                      {"jobId", first.event.job_id},
                      {"account", first.event.account},
                      {"customerNo", first.event.account},
                      {"receivedTs", iso8601_ms(first.received_ms > 0 ? first.received_ms : first.event.ts_ms)}};
    if (!first.reference_job.empty()) {
      meta["referenceJob"] = first.reference_job;
    }
    if (!first.campaign_id.empty()) {
      meta["campaignId"] = first.campaign_id;
    }
    if (!first.cost_center.empty()) {
      meta["costCenter"] = first.cost_center;
    }
    json::array list;
    for (const Row* r : rows) {
      const Event& e = r->event;
      json::object mail{{"id", e.mail_id}, {"email", e.recipient}, {"from", e.sender}};
      if (!r->mime_from.empty()) {
        mail["mimeFrom"] = r->mime_from;
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
    return json::serialize(json::object{{"meta", std::move(meta)}, {"notifications", std::move(list)}});
  }

  http::request<http::string_body> request_for(const Batch& b, const Url& url) {
    http::request<http::string_body> req{http::verb::post, url.target, 11};
    req.set(http::field::host, url.host);
    req.set(http::field::user_agent, "txmail-webhooks");
    req.set(http::field::content_type, "application/json");
    const std::string t = std::to_string(now_ms() / 1000);
    req.set("X-Txmail-Signature", "t=" + t + ",v1=" + hmac_hex(deps.secret_of(b.account), t + "." + b.body));
    if (!b.endpoint.user.empty() || !b.endpoint.password.empty()) {
      req.set(http::field::authorization, "Basic " + base64_encode(b.endpoint.user + ":" + b.endpoint.password));
    }
    for (const auto& [k, v] : b.endpoint.headers) {
      req.set(k, v);
    }
    req.body() = b.body;
    req.keep_alive(true);
    req.prepare_payload();
    return req;
  }

  // Sends every batch, at most `per_endpoint` connections per URL, and fills in the results.
  void send_all(std::vector<Batch>& batches) {
    std::map<std::string, std::vector<Batch*>> by_url;
    for (auto& b : batches) {
      by_url[b.endpoint.url].push_back(&b);
    }
    std::vector<std::vector<Batch*>> lanes;
    for (auto& [url, list] : by_url) {
      const std::size_t n = std::min(options.per_endpoint, list.size());
      const std::size_t first = lanes.size();
      lanes.resize(first + n);
      for (std::size_t i = 0; i < list.size(); ++i) {
        lanes[first + i % n].push_back(list[i]);
      }
    }
    std::latch done(static_cast<std::ptrdiff_t>(lanes.size()));
    for (auto& lane : lanes) {
      asio::post(*senders, [this, &lane, &done] {
        Client client(options, tls);
        for (Batch* b : lane) {
          const auto url = net::parse_http_url(b->endpoint.url);
          if (!url) {
            b->result = {Verdict::kRefused, "not an http(s) URL"};
            continue;
          }
          auto req = request_for(*b, *url);
          b->result = client.post(*url, req);
        }
        done.count_down();
      });
    }
    done.wait();
  }

  void count(const Batch& b) {
    switch (b.result.verdict) {
      case Verdict::kDelivered:
        posts.fetch_add(1, std::memory_order_relaxed);
        delivered.fetch_add(b.notifications, std::memory_order_relaxed);
        break;
      case Verdict::kRefused:
        refused.fetch_add(1, std::memory_order_relaxed);
        logger()->warn("webhook refused account={} job={} url={}: {} (not retried)", b.account, b.job_id,
                       b.endpoint.url, b.result.error);
        break;
      case Verdict::kRetry:
        failures.fetch_add(1, std::memory_order_relaxed);
        break;
    }
  }

  const std::vector<std::chrono::milliseconds>& schedule() const { return options.retry_schedule; }

  // Stores a failed batch for its next try, or as a dead letter when tries run out.
  void store_failure(const Batch& b, std::int64_t now) {
    const int attempts = b.attempt + 1;
    const std::string sealed = deps.seal(to_json(b.endpoint), "webhook:" + b.job_id);
    const bool exhausted = static_cast<std::size_t>(attempts) > schedule().size();
    if (b.retry_id != 0) {
      Stmt del(state, "DELETE FROM retries WHERE id = ?");
      del.integer(1, b.retry_id);
      sqlite3_step(del.st);
    }
    Stmt ins(state, exhausted ? "INSERT INTO dead (account, job_id, endpoint, body, notifications, attempt,"
                                " next_ms, last_error, created_ms) VALUES (?,?,?,?,?,?,?,?,?)"
                              : "INSERT INTO retries (account, job_id, endpoint, body, notifications, attempt,"
                                " next_ms, last_error, created_ms) VALUES (?,?,?,?,?,?,?,?,?)");
    ins.text(1, b.account);
    ins.text(2, b.job_id);
    ins.text(3, sealed);
    ins.text(4, b.body);
    ins.integer(5, static_cast<std::int64_t>(b.notifications));
    ins.integer(6, attempts);
    ins.integer(7, exhausted ? 0 : now + jittered(schedule()[static_cast<std::size_t>(attempts) - 1]).count());
    ins.text(8, b.result.error);
    ins.integer(9, now);
    if (sqlite3_step(ins.st) != SQLITE_DONE) {
      logger()->error("webhooks: storing a failed batch: {}", sqlite3_errmsg(state));
    }
    if (exhausted) {
      dead.fetch_add(1, std::memory_order_relaxed);
      logger()->error("webhook dead letter account={} job={} url={} after {} tries: {}", b.account, b.job_id,
                      b.endpoint.url, attempts, b.result.error);
    }
  }

  // After a round's sends, inside its state transaction: counted; a failure stored for its
  // next try (or as a dead letter); a retried batch that is done leaves the retry queue.
  void settle(const std::vector<Batch>& batches) {
    const std::int64_t now = now_ms();
    for (const auto& b : batches) {
      count(b);
      if (b.result.verdict == Verdict::kRetry) {
        store_failure(b, now);  // replaces its retry row, if it had one
      } else if (b.retry_id != 0) {
        Stmt del(state, "DELETE FROM retries WHERE id = ?");
        del.integer(1, b.retry_id);
        sqlite3_step(del.st);
      }
    }
  }

  // Batches whose retry time has come.
  bool retry_round() {
    std::vector<Batch> batches;
    {
      std::lock_guard lock(state_mutex);
      Stmt q(state, "SELECT id, account, job_id, endpoint, body, notifications, attempt FROM retries"
                    " WHERE next_ms <= ? ORDER BY next_ms LIMIT 500");
      q.integer(1, now_ms());
      while (sqlite3_step(q.st) == SQLITE_ROW) {
        Batch b;
        b.retry_id = q.num(0);
        b.account = q.col(1);
        b.job_id = q.col(2);
        auto plain = deps.open(q.col(3), "webhook:" + b.job_id);
        auto ep = plain ? endpoint_from_json(*plain) : std::nullopt;
        if (!ep) {
          logger()->error("webhooks: retry {} has an unreadable endpoint; dropped", b.retry_id);
          continue;
        }
        b.endpoint = std::move(*ep);
        b.body = q.col(4);
        b.notifications = static_cast<std::size_t>(q.num(5));
        b.attempt = static_cast<int>(q.num(6));
        batches.push_back(std::move(b));
      }
    }
    if (batches.empty()) {
      return false;
    }
    send_all(batches);
    std::lock_guard lock(state_mutex);
    sqlite3_exec(state, "BEGIN", nullptr, nullptr, nullptr);
    settle(batches);
    sqlite3_exec(state, "COMMIT", nullptr, nullptr, nullptr);
    return true;
  }

  std::int64_t position() {
    std::lock_guard lock(state_mutex);
    Stmt q(state, "SELECT seq FROM position WHERE id = 1");
    return sqlite3_step(q.st) == SQLITE_ROW ? q.num(0) : 0;
  }

  // The next events after the position, dispatched; false when there were none.
  bool event_round() {
    const std::int64_t from = position();
    {
      Stmt head_q(events, "SELECT coalesce(max(seq), 0) FROM events");
      if (sqlite3_step(head_q.st) == SQLITE_ROW) {
        head.store(head_q.num(0), std::memory_order_relaxed);
      }
      last_seq.store(from, std::memory_order_relaxed);
    }
    std::vector<Row> rows;
    {
      Stmt q(events,
             "SELECT e.seq, e.tag, e.ts_ms, e.kind, e.job_id, e.mail_id, e.account, e.recipient, e.sender,"
             " e.attempt, e.remote_host, e.reply, j.received_ms, j.mime_from, j.reference_job,"
             " j.campaign_id, j.cost_center, j.endpoint FROM events e LEFT JOIN jobs j ON j.job_id = e.job_id"
             " WHERE e.seq > ? ORDER BY e.seq LIMIT ?");
      q.integer(1, from);
      q.integer(2, static_cast<std::int64_t>(options.chunk));
      while (sqlite3_step(q.st) == SQLITE_ROW) {
        Row r;
        r.seq = q.num(0);
        r.event.tag = q.col(1);
        r.event.ts_ms = q.num(2);
        r.event.kind = static_cast<Kind>(q.num(3));
        r.event.job_id = q.col(4);
        r.event.mail_id = q.col(5);
        r.event.account = q.col(6);
        r.event.recipient = q.col(7);
        r.event.sender = q.col(8);
        r.event.attempt = static_cast<std::uint32_t>(q.num(9));
        r.event.remote_host = q.col(10);
        r.event.reply = q.col(11);
        r.received_ms = q.num(12);
        r.mime_from = q.col(13);
        r.reference_job = q.col(14);
        r.campaign_id = q.col(15);
        r.cost_center = q.col(16);
        r.endpoint_sealed = q.col(17);
        rows.push_back(std::move(r));
      }
    }
    if (rows.empty()) {
      return false;
    }
    // Group by (endpoint, job), in log order; a job's own endpoint, else its account's.
    std::map<std::string, std::optional<Endpoint>> account_endpoints;
    std::map<std::string, std::optional<Endpoint>> job_endpoints;
    std::vector<std::pair<std::pair<std::string, std::string>, std::vector<const Row*>>> groups;
    std::map<std::pair<std::string, std::string>, std::size_t> group_of;
    for (const auto& r : rows) {
      auto jit = job_endpoints.find(r.event.job_id);
      if (jit == job_endpoints.end()) {
        std::optional<Endpoint> ep;
        if (!r.endpoint_sealed.empty()) {
          auto plain = deps.open(r.endpoint_sealed, "endpoint:" + r.event.job_id);
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
            ait = account_endpoints.emplace(r.event.account, deps.account_endpoint(r.event.account)).first;
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
      if (git == group_of.end() || groups[git->second].second.size() >= options.batch_max) {
        group_of[key] = groups.size();
        groups.emplace_back(key, std::vector<const Row*>{});
        git = group_of.find(key);
      }
      groups[git->second].second.push_back(&r);
    }
    std::vector<Batch> batches;
    batches.reserve(groups.size());
    for (const auto& [key, list] : groups) {
      Batch b;
      b.endpoint = *job_endpoints[key.second];
      b.account = list.front()->event.account;
      b.job_id = key.second;
      b.body = body_of(list);
      b.notifications = list.size();
      batches.push_back(std::move(b));
    }
    if (!batches.empty()) {
      send_all(batches);
    }
    std::lock_guard lock(state_mutex);
    sqlite3_exec(state, "BEGIN", nullptr, nullptr, nullptr);
    settle(batches);
    Stmt pos(state, "UPDATE position SET seq = ? WHERE id = 1");
    pos.integer(1, rows.back().seq);
    sqlite3_step(pos.st);
    if (sqlite3_exec(state, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      logger()->error("webhooks: saving the position: {}", sqlite3_errmsg(state));
    }
    last_seq.store(rows.back().seq, std::memory_order_relaxed);
    return true;
  }

  void run() {
    for (;;) {
      {
        std::lock_guard lock(wake_mutex);
        if (stopping) {
          return;
        }
      }
      bool busy = false;
      busy = retry_round() || busy;
      busy = event_round() || busy;
      if (!busy) {
        std::unique_lock lock(wake_mutex);
        wake.wait_for(lock, options.poll, [this] { return stopping; });
      }
    }
  }
};

WebhookDispatcher::WebhookDispatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WebhookDispatcher::~WebhookDispatcher() {
  stop();
}

Result<std::unique_ptr<WebhookDispatcher>> WebhookDispatcher::open(Deps deps, WebhookOptions options) {
  auto impl = std::make_unique<Impl>();
  if (options.retry_schedule.empty()) {
    options.retry_schedule = default_retry_schedule();
  }
  impl->deps = std::move(deps);
  impl->options = std::move(options);
  if (sqlite3_open_v2(impl->deps.state_db.c_str(), &impl->state,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr)
          != SQLITE_OK
      || sqlite3_exec(impl->state, kStateSchema, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return make_error(ErrorCode::kIo, "webhook state " + impl->deps.state_db + ": " + sqlite3_errmsg(impl->state));
  }
  if (sqlite3_open_v2(impl->deps.events_db.c_str(), &impl->events, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      nullptr)
      != SQLITE_OK) {
    return make_error(ErrorCode::kIo, "webhooks: event log " + impl->deps.events_db + ": " + sqlite3_errmsg(impl->events));
  }
  sqlite3_busy_timeout(impl->events, 5000);
  sqlite3_busy_timeout(impl->state, 5000);
  impl->tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  impl->tls->set_default_verify_paths();
  impl->tls->set_verify_mode(asio::ssl::verify_peer);
  impl->tls->set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  impl->senders = std::make_unique<asio::thread_pool>(impl->options.threads);
  return std::unique_ptr<WebhookDispatcher>(new WebhookDispatcher(std::move(impl)));
}

void WebhookDispatcher::start() {
  impl_->loop = std::thread([impl = impl_.get()] { impl->run(); });
}

void WebhookDispatcher::stop() {
  {
    std::lock_guard lock(impl_->wake_mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->loop.joinable()) {
    impl_->loop.join();
  }
  impl_->senders->join();
}

Result<std::vector<DeadLetter>> WebhookDispatcher::dead_letters(const std::string& account, std::size_t limit) {
  std::lock_guard lock(impl_->state_mutex);
  Stmt q(impl_->state, account.empty()
                           ? "SELECT id, account, job_id, endpoint, attempt, last_error, created_ms, notifications"
                             " FROM dead WHERE ? = '' ORDER BY id LIMIT ?"
                           : "SELECT id, account, job_id, endpoint, attempt, last_error, created_ms, notifications"
                             " FROM dead WHERE account = ? ORDER BY id LIMIT ?");
  q.text(1, account);
  q.integer(2, static_cast<std::int64_t>(limit));
  std::vector<DeadLetter> out;
  while (sqlite3_step(q.st) == SQLITE_ROW) {
    DeadLetter d;
    d.id = q.num(0);
    d.account = q.col(1);
    d.job_id = q.col(2);
    auto plain = impl_->deps.open(q.col(3), "webhook:" + d.job_id);
    auto ep = plain ? endpoint_from_json(*plain) : std::nullopt;
    d.url = ep ? ep->url : "";
    d.attempts = static_cast<int>(q.num(4));
    d.last_error = q.col(5);
    d.created_ms = q.num(6);
    d.notifications = static_cast<std::size_t>(q.num(7));
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::size_t> WebhookDispatcher::replay(const std::string& account) {
  std::lock_guard lock(impl_->state_mutex);
  sqlite3_exec(impl_->state, "BEGIN", nullptr, nullptr, nullptr);
  const char* move = account.empty()
                         ? "INSERT INTO retries (account, job_id, endpoint, body, notifications, attempt, next_ms,"
                           " last_error, created_ms) SELECT account, job_id, endpoint, body, notifications, 0, 0,"
                           " last_error, created_ms FROM dead WHERE ? = ''"
                         : "INSERT INTO retries (account, job_id, endpoint, body, notifications, attempt, next_ms,"
                           " last_error, created_ms) SELECT account, job_id, endpoint, body, notifications, 0, 0,"
                           " last_error, created_ms FROM dead WHERE account = ?";
  Stmt ins(impl_->state, move);
  ins.text(1, account);
  sqlite3_step(ins.st);
  const auto n = static_cast<std::size_t>(sqlite3_changes(impl_->state));
  Stmt del(impl_->state, account.empty() ? "DELETE FROM dead WHERE ? = ''" : "DELETE FROM dead WHERE account = ?");
  del.text(1, account);
  sqlite3_step(del.st);
  if (sqlite3_exec(impl_->state, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return make_error(ErrorCode::kIo, std::string("webhooks: replay: ") + sqlite3_errmsg(impl_->state));
  }
  impl_->wake.notify_all();
  return n;
}

WebhookStats WebhookDispatcher::stats() {
  WebhookStats s;
  s.posts = impl_->posts.load();
  s.delivered = impl_->delivered.load();
  s.refused = impl_->refused.load();
  s.failures = impl_->failures.load();
  s.dead = impl_->dead.load();
  s.lag = static_cast<std::uint64_t>(std::max<std::int64_t>(0, impl_->head.load() - impl_->last_seq.load()));
  {
    std::lock_guard lock(impl_->state_mutex);
    Stmt r(impl_->state, "SELECT (SELECT count(*) FROM retries), (SELECT count(*) FROM dead)");
    if (sqlite3_step(r.st) == SQLITE_ROW) {
      s.retry_backlog = static_cast<std::uint64_t>(r.num(0));
      s.dead_letters = static_cast<std::uint64_t>(r.num(1));
    }
  }
  return s;
}

}  // namespace txmail::events
