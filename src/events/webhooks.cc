#include "events/webhooks.h"

#include <sqlite3.h>

#include <boost/beast/http.hpp>
#include <deque>
#include <random>
#include <set>
#include <unordered_map>

#include "common/duration.h"
#include "common/ids.h"
#include "common/log.h"
#include "events/webhook_batches.h"
#include "net/asio.h"

namespace txmail::events {

using namespace webhook;  // the shared parts of the dispatcher (webhook_batches.h)

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// A POST to make: one (endpoint, job) batch, a row of the outbox.
struct Batch {
  std::int64_t id = 0;  // its outbox row
  Endpoint endpoint;
  std::string account;
  std::string job_id;
  std::string body;
  std::size_t notifications = 0;
  int attempt = 0;  // tries made before this one
};

// What a finished try changes in the outbox, written with others in one transaction.
struct Completion {
  std::string key;  // the endpoint's lane
  std::int64_t id = 0;
  Verdict verdict = Verdict::kRetry;
  int attempts = 0;  // tries made, this one included
  std::string error;
};

}  // namespace

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
  // One endpoint: its connections, its requests in flight and its circuit breaker. Lives on
  // the dispatcher's thread while the endpoint has batches, requests or a pause in force.
  struct Lane {
    enum class State { kActive, kPaused, kProbing };
    explicit Lane(asio::io_context& io, std::string k) : key(std::move(k)), timer(io) {}
    std::string key;
    std::string url;  // known once a batch was loaded
    std::size_t in_flight = 0;
    std::set<std::int64_t> busy;  // outbox rows sent or waiting for their commit
    State state = State::kActive;
    std::uint32_t failures = 0;  // in a row
    std::uint32_t pauses = 0;    // in a row: the pause doubles
    std::int64_t paused_until_ms = 0;
    std::string last_error;
    std::vector<std::unique_ptr<WebhookConnection>> idle;
    Timer timer;
    std::int64_t timer_at_ms = 0;  // 0: not armed
    bool starved = false;          // waits for the global in-flight limit
  };

  explicit Impl(Deps d) : deps(std::move(d)) {}

  Deps deps;
  WebhookOptions options;
  ConnectionOptions connection_options;
  sqlite3* state = nullptr;
  std::mutex state_mutex;  // the dispatcher's thread and the API share the state connection
  std::shared_ptr<asio::ssl::context> tls;
  std::mt19937_64 rng{std::random_device{}()};
  std::atomic<std::uint64_t> posts{0}, delivered{0}, refused{0}, failures{0}, dead{0}, trips{0};
  std::atomic<std::int64_t> last_seq{0};
  std::atomic<std::int64_t> head{0};  // the log's last seq at the latest round
  std::atomic<bool> stopping{false};

  // What the API reads of the lanes (by key), kept up to date by the dispatcher's thread.
  std::mutex status_mutex;
  std::unordered_map<std::string, EndpointStatus> status;

  // The dispatcher's thread and everything it alone touches. io is declared before the lanes:
  // they (and their sockets) go first.
  asio::io_context io{1};
  std::thread thread;
  Timer poll{io};
  Timer commit_timer{io};
  bool commit_armed = false;
  bool commit_failing = false;
  bool read_failing = false;  // the outbox cannot be written
  bool log_failing = false;   // the event log cannot be read
  std::vector<Completion> completed;
  std::unordered_map<std::string, std::unique_ptr<Lane>> lanes;
  std::deque<Lane*> starved;
  std::size_t in_flight = 0;

  ~Impl() {
    lanes.clear();
    sqlite3_close(state);
  }

  std::chrono::milliseconds jittered(std::chrono::milliseconds base) {
    std::uniform_real_distribution<double> d(0.75, 1.25);
    return std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(base.count()) * d(rng)));
  }

  const std::vector<std::chrono::milliseconds>& schedule() const { return options.retry_schedule; }

  // --- lanes -------------------------------------------------------------------------------

  Lane& lane(const std::string& key) {
    auto& l = lanes[key];
    if (!l) {
      l = std::make_unique<Lane>(io, key);
    }
    return *l;
  }

  void publish(const Lane& l) {
    EndpointStatus st;
    st.state = l.state == Lane::State::kActive ? "active" : l.state == Lane::State::kPaused ? "paused" : "probing";
    st.consecutive_failures = l.failures;
    st.paused_until_ms = l.state == Lane::State::kPaused ? l.paused_until_ms : 0;
    st.last_error = l.last_error;
    std::lock_guard lock(status_mutex);
    if (l.state == Lane::State::kActive && l.failures == 0) {
      status.erase(l.key);
    } else {
      status[l.key] = std::move(st);
    }
  }

  // Up to `n` of the lane's batches that are due and not already busy, oldest first.
  std::vector<Batch> due(Lane& l, std::size_t n) {
    std::string sql = "SELECT id, account, job_id, endpoint, body, notifications, attempt FROM outbox"
                      " WHERE endpoint_key = ? AND next_ms <= ?";
    if (!l.busy.empty()) {
      sql += " AND id NOT IN (";
      for (auto it = l.busy.begin(); it != l.busy.end(); ++it) {
        sql += (it == l.busy.begin() ? "" : ",") + std::to_string(*it);
      }
      sql += ")";
    }
    sql += " ORDER BY next_ms, id LIMIT ?";
    std::vector<Batch> out;
    std::vector<std::int64_t> unreadable;
    std::lock_guard lock(state_mutex);
    Stmt q(state, sql.c_str());
    q.text(1, l.key);
    q.integer(2, now_ms());
    q.integer(3, static_cast<std::int64_t>(n));
    while (sqlite3_step(q.st) == SQLITE_ROW) {
      Batch b;
      b.id = q.num(0);
      b.account = q.col(1);
      b.job_id = q.col(2);
      auto plain = deps.open(q.col(3), "webhook:" + b.job_id);
      auto ep = plain ? endpoint_from_json(*plain) : std::nullopt;
      if (!ep) {
        logger()->error("webhooks: outbox row {} has an unreadable endpoint; dropped", b.id);
        unreadable.push_back(b.id);
        continue;
      }
      b.endpoint = std::move(*ep);
      b.body = q.col(4);
      b.notifications = static_cast<std::size_t>(q.num(5));
      b.attempt = static_cast<int>(q.num(6));
      out.push_back(std::move(b));
    }
    for (auto id : unreadable) {
      Stmt del(state, "DELETE FROM outbox WHERE id = ?");
      del.integer(1, id);
      sqlite3_step(del.st);
    }
    return out;
  }

  // When the lane's next batch not yet due comes due.
  std::optional<std::int64_t> next_due(const Lane& l) {
    std::lock_guard lock(state_mutex);
    Stmt q(state, "SELECT min(next_ms) FROM outbox WHERE endpoint_key = ? AND next_ms > ?");
    q.text(1, l.key);
    q.integer(2, now_ms());
    if (sqlite3_step(q.st) == SQLITE_ROW && sqlite3_column_type(q.st, 0) != SQLITE_NULL) {
      return q.num(0);
    }
    return std::nullopt;
  }

  void arm(Lane& l, std::int64_t at_ms) {
    if (l.timer_at_ms != 0 && l.timer_at_ms <= at_ms) {
      return;
    }
    l.timer_at_ms = at_ms;
    l.timer.expires_after(std::chrono::milliseconds(std::max<std::int64_t>(0, at_ms - now_ms())));
    l.timer.async_wait([this, key = l.key](const boost::system::error_code& ec) {
      const auto it = lanes.find(key);
      if (ec || stopping || it == lanes.end()) {
        return;
      }
      it->second->timer_at_ms = 0;
      pump(*it->second);
    });
  }

  // Starts what the lane may send now: up to per_endpoint requests (one while probing), none
  // while paused; within the global in-flight limit. Never waits.
  void pump(Lane& l) {
    if (stopping) {
      return;
    }
    const std::int64_t now = now_ms();
    if (l.state == Lane::State::kPaused) {
      if (now < l.paused_until_ms) {
        arm(l, l.paused_until_ms);
        return;
      }
      l.state = Lane::State::kProbing;
      publish(l);
    }
    const std::size_t cap = l.state == Lane::State::kProbing ? 1 : options.per_endpoint;
    while (l.in_flight < cap) {
      if (in_flight >= options.max_in_flight) {
        if (!l.starved) {
          l.starved = true;
          starved.push_back(&l);
        }
        return;
      }
      auto batches = due(l, std::min(cap - l.in_flight, options.max_in_flight - in_flight));
      if (batches.empty()) {
        if (auto at = next_due(l)) {
          arm(l, *at);
        } else {
          if (l.state != Lane::State::kActive && l.in_flight == 0) {
            // Nothing left to send (the last batch became a dead letter): nothing to probe
            // with; the next batch starts afresh.
            l.state = Lane::State::kActive;
            l.failures = 0;
            l.pauses = 0;
            publish(l);
          }
          drop_if_idle(l);  // l may be gone from here on
        }
        return;
      }
      for (auto& b : batches) {
        l.url = b.endpoint.url;
        l.busy.insert(b.id);
        ++l.in_flight;
        ++in_flight;
        asio::co_spawn(io, send(this, &l, std::move(b)), log_failure("a push notification"));
      }
    }
  }

  void drop_if_idle(Lane& l) {
    if (l.in_flight == 0 && l.busy.empty() && l.state == Lane::State::kActive && l.timer_at_ms == 0
        && !l.starved) {
      lanes.erase(lanes.find(l.key));  // by iterator: the key lives in the lane that goes
    }
  }

  static awaitable<void> send(Impl* self, Lane* l, Batch b) {
    Attempt result;
    const auto url = net::parse_http_url(b.endpoint.url);
    if (!url) {
      result = {Verdict::kRefused, "not an http(s) URL"};
    } else {
      std::unique_ptr<WebhookConnection> connection;
      if (!l->idle.empty()) {
        connection = std::move(l->idle.back());
        l->idle.pop_back();
      } else {
        connection = std::make_unique<WebhookConnection>(self->io.get_executor(), self->connection_options,
                                                         self->tls);
      }
      try {
        auto req = request_for(b.endpoint, b.body, self->deps.secret_of(b.account), *url);
        result = co_await connection->post(*url, req);
      } catch (const std::exception& e) {
        result = {Verdict::kRetry, std::string("internal error: ") + e.what()};
        connection->close();
      }
      if (connection->open() && l->idle.size() < self->options.per_endpoint && !self->stopping) {
        l->idle.push_back(std::move(connection));
      }
    }
    --l->in_flight;
    --self->in_flight;
    self->finished(*l, b, result);
    // Lanes that waited for the global limit go first, then this one.
    while (!self->starved.empty() && self->in_flight < self->options.max_in_flight) {
      Lane* next = self->starved.front();
      self->starved.pop_front();
      next->starved = false;
      self->pump(*next);
    }
    self->pump(*l);
  }

  // A try is over: counters, the breaker, and the outbox change (written by the committer).
  void finished(Lane& l, const Batch& b, const Attempt& result) {
    switch (result.verdict) {
      case Verdict::kDelivered:
        posts.fetch_add(1, std::memory_order_relaxed);
        delivered.fetch_add(b.notifications, std::memory_order_relaxed);
        break;
      case Verdict::kRefused:
        refused.fetch_add(1, std::memory_order_relaxed);
        logger()->warn("webhook refused account={} job={} url={}: {} (not retried)", b.account, b.job_id,
                       b.endpoint.url, result.error);
        break;
      case Verdict::kRetry:
        failures.fetch_add(1, std::memory_order_relaxed);
        break;
    }
    if (result.verdict == Verdict::kRetry) {
      ++l.failures;
      l.last_error = result.error;
      if (l.state == Lane::State::kProbing
          || (l.state == Lane::State::kActive && l.failures >= options.breaker_failures)) {
        pause(l);
      } else {
        publish(l);  // already paused: a request from before the pause failed too
      }
    } else if (l.state != Lane::State::kActive || l.failures != 0) {
      if (l.state != Lane::State::kActive) {
        logger()->info("webhook endpoint {} answers again: resumed", l.url);
      }
      l.state = Lane::State::kActive;
      l.failures = 0;
      l.pauses = 0;
      publish(l);
    }
    completed.push_back(Completion{l.key, b.id, result.verdict, b.attempt + 1, result.error});
    arm_commit();
  }

  // The breaker opens: no request for the first retry wait, doubling with each pause in a row
  // up to the longest wait of the schedule.
  void pause(Lane& l) {
    const auto longest = *std::max_element(schedule().begin(), schedule().end());
    auto wait = schedule().front();
    for (std::uint32_t i = 0; i < l.pauses && wait < longest; ++i) {
      wait *= 2;
    }
    wait = std::min(wait, longest);
    ++l.pauses;
    if (l.state != Lane::State::kPaused) {
      trips.fetch_add(1, std::memory_order_relaxed);
      logger()->warn("webhook endpoint {} paused for {} ms after {} failures in a row: {}", l.url, wait.count(),
                     l.failures, l.last_error);
    }
    l.state = Lane::State::kPaused;
    l.paused_until_ms = now_ms() + wait.count();
    publish(l);
  }

  // --- the outbox's writes ---------------------------------------------------------------

  void arm_commit() {
    if (commit_armed) {
      return;
    }
    commit_armed = true;
    commit_timer.expires_after(commit_failing ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(5));
    commit_timer.async_wait([this](const boost::system::error_code& ec) {
      commit_armed = false;
      if (!ec) {
        commit();
      }
    });
  }

  // Finished tries, written in one transaction: done rows go, failed ones get their next try
  // or become dead letters. A failed commit (a full disk) keeps them busy and tries again a
  // second later; nothing is sent twice meanwhile.
  void commit() {
    if (completed.empty()) {
      return;
    }
    auto done = std::move(completed);
    completed.clear();
    const std::int64_t now = now_ms();
    bool ok = false;
    std::string error;
    {
      std::lock_guard lock(state_mutex);
      ok = sqlite3_exec(state, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
      for (const auto& c : done) {
        if (!ok) {
          break;
        }
        ok = apply(c, now);
      }
      if (ok) {
        ok = sqlite3_exec(state, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
      }
      if (!ok) {
        error = sqlite3_errmsg(state);
        sqlite3_exec(state, "ROLLBACK", nullptr, nullptr, nullptr);
      }
    }
    if (!ok) {
      if (!commit_failing) {
        logger()->error("webhooks: cannot write the outbox ({}); retrying every second", error);
      }
      commit_failing = true;
      done.insert(done.end(), std::make_move_iterator(completed.begin()),
                  std::make_move_iterator(completed.end()));
      completed = std::move(done);
      arm_commit();
      return;
    }
    if (commit_failing) {
      logger()->info("webhooks: the outbox is writable again");
      commit_failing = false;
    }
    std::set<std::string> touched;
    for (const auto& c : done) {
      const auto it = lanes.find(c.key);
      if (it != lanes.end()) {
        it->second->busy.erase(c.id);
        touched.insert(c.key);
      }
    }
    for (const auto& key : touched) {
      if (const auto it = lanes.find(key); it != lanes.end()) {
        pump(*it->second);
      }
    }
  }

  bool apply(const Completion& c, std::int64_t now) {
    auto step = [this](Stmt& s) { return sqlite3_step(s.st) == SQLITE_DONE; };
    if (c.verdict != Verdict::kRetry) {
      Stmt del(state, "DELETE FROM outbox WHERE id = ?");
      del.integer(1, c.id);
      return step(del);
    }
    if (static_cast<std::size_t>(c.attempts) > schedule().size()) {
      Stmt ins(state, "INSERT INTO dead (account, job_id, endpoint, body, notifications, attempt, next_ms,"
                      " last_error, created_ms) SELECT account, job_id, endpoint, body, notifications, ?, 0, ?,"
                      " created_ms FROM outbox WHERE id = ?");
      ins.integer(1, c.attempts);
      ins.text(2, c.error);
      ins.integer(3, c.id);
      Stmt del(state, "DELETE FROM outbox WHERE id = ?");
      del.integer(1, c.id);
      if (!step(ins) || !step(del)) {
        return false;
      }
      dead.fetch_add(1, std::memory_order_relaxed);
      logger()->error("webhook dead letter id={} after {} tries: {}", c.id, c.attempts, c.error);
      return true;
    }
    Stmt up(state, "UPDATE outbox SET attempt = ?, next_ms = ?, last_error = ? WHERE id = ?");
    up.integer(1, c.attempts);
    up.integer(2, now + jittered(schedule()[static_cast<std::size_t>(c.attempts) - 1]).count());
    up.text(3, c.error);
    up.integer(4, c.id);
    return step(up);
  }

  // --- the reader --------------------------------------------------------------------------

  std::int64_t position() {
    std::lock_guard lock(state_mutex);
    Stmt q(state, "SELECT seq FROM position WHERE id = 1");
    return sqlite3_step(q.st) == SQLITE_ROW ? q.num(0) : 0;
  }

  // The next events after the position, stored as batches in the outbox with the new position
  // (one transaction), and their lanes started; false when there were none (or the write
  // failed: the same events are read again next time).
  bool event_round() {
    const std::int64_t from = position();
    if (auto h = deps.event_log.last_seq()) {
      head.store(*h, std::memory_order_relaxed);
    }
    last_seq.store(from, std::memory_order_relaxed);
    auto read = read_round(deps.event_log, from, options.chunk, options.batch_max, deps);
    if (!read) {
      if (!log_failing) {
        logger()->error("webhooks: cannot read the event log ({}); retrying every second",
                        read.error().detail);
      }
      log_failing = true;
      return false;
    }
    if (log_failing) {
      logger()->info("webhooks: reading the event log again");
      log_failing = false;
    }
    const ReadRound& round = *read;
    if (round.last_seq == 0) {
      return false;
    }
    const std::int64_t now = now_ms();
    std::set<std::string> keys;
    bool ok = false;
    std::string error;
    {
      std::lock_guard lock(state_mutex);
      ok = sqlite3_exec(state, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
      // Whatever leaves this block early (an exception from sealing or composing) rolls back.
      struct Rollback {
        sqlite3* db;
        bool& ok;
        ~Rollback() {
          if (!ok) {
            sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
          }
        }
      };
      bool committed = false;
      Rollback rollback{state, committed};
      for (const auto& b : round.batches) {
        if (!ok) {
          break;
        }
        const std::string key = endpoint_key(b.endpoint.url);
        Stmt ins(state, "INSERT INTO outbox (endpoint_key, account, job_id, endpoint, body, notifications,"
                        " attempt, next_ms, last_error, created_ms) VALUES (?,?,?,?,?,?,0,?,'',?)");
        ins.text(1, key);
        ins.text(2, b.account);
        ins.text(3, b.job_id);
        ins.text(4, deps.seal(to_json(b.endpoint), "webhook:" + b.job_id));
        ins.text(5, b.body);
        ins.integer(6, static_cast<std::int64_t>(b.notifications));
        ins.integer(7, now);
        ins.integer(8, now);
        ok = sqlite3_step(ins.st) == SQLITE_DONE;
        keys.insert(key);
      }
      if (ok) {
        Stmt pos(state, "UPDATE position SET seq = ? WHERE id = 1");
        pos.integer(1, round.last_seq);
        ok = sqlite3_step(pos.st) == SQLITE_DONE
             && sqlite3_exec(state, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
      }
      committed = ok;
      if (!ok) {
        error = sqlite3_errmsg(state);
      }
    }
    if (!ok) {
      if (!read_failing) {
        logger()->error("webhooks: cannot store new notifications ({}); retrying every second", error);
      }
      read_failing = true;
      return false;
    }
    if (read_failing) {
      logger()->info("webhooks: storing notifications again");
      read_failing = false;
    }
    last_seq.store(round.last_seq, std::memory_order_relaxed);
    for (const auto& key : keys) {
      pump(lane(key));
    }
    return true;
  }

  static awaitable<void> reader(Impl* self) {
    while (!self->stopping) {
      bool more = false;
      try {
        more = self->event_round();
      } catch (const std::exception& e) {
        logger()->error("webhooks: reading the event log failed: {}", e.what());
      }
      if (more) {
        co_await asio::post(self->io.get_executor(), asio::use_awaitable);  // let sends run
        continue;
      }
      const bool failing = self->read_failing || self->log_failing;
      self->poll.expires_after(failing ? std::chrono::milliseconds(1000) : self->options.poll);
      co_await self->poll.async_wait(use_tuple);
    }
  }

  // Starts a lane for every endpoint with batches in the outbox (at start, after a replay).
  void rescan() {
    std::vector<std::string> keys;
    {
      std::lock_guard lock(state_mutex);
      Stmt q(state, "SELECT DISTINCT endpoint_key FROM outbox");
      while (sqlite3_step(q.st) == SQLITE_ROW) {
        keys.push_back(q.col(0));
      }
    }
    for (const auto& key : keys) {
      pump(lane(key));
    }
  }


  // Batches stored by a node before issue hooks-2 (failed ones only, in `retries`) move to the
  // outbox, keyed by their endpoint.
  void migrate() {
    std::lock_guard lock(state_mutex);
    if (sqlite3_exec(state, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK
        || !move_to_outbox(state, deps, "retries", "? = ''", "")
        || sqlite3_exec(state, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      logger()->error("webhooks: cannot move old retries to the outbox: {}", sqlite3_errmsg(state));
      sqlite3_exec(state, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
};

WebhookDispatcher::WebhookDispatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WebhookDispatcher::~WebhookDispatcher() {
  stop();
}

Result<std::unique_ptr<WebhookDispatcher>> WebhookDispatcher::open(Deps deps, WebhookOptions options) {
  auto impl = std::make_unique<Impl>(std::move(deps));
  if (options.retry_schedule.empty()) {
    options.retry_schedule = default_retry_schedule();
  }
  impl->options = std::move(options);
  impl->connection_options.source_address = impl->options.source_address;
  impl->connection_options.allow_private_targets = impl->options.allow_private_targets;
  impl->connection_options.timeout = impl->options.timeout;
  impl->connection_options.resolver = impl->deps.resolver;
  if (sqlite3_open_v2(impl->deps.state_db.c_str(), &impl->state,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr)
          != SQLITE_OK
      || sqlite3_exec(impl->state, kStateSchema, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return make_error(ErrorCode::kIo, "webhook state " + impl->deps.state_db + ": " + sqlite3_errmsg(impl->state));
  }
  sqlite3_busy_timeout(impl->state, 5000);
  impl->migrate();
  impl->tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  impl->tls->set_default_verify_paths();
  impl->tls->set_verify_mode(asio::ssl::verify_peer);
  impl->tls->set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  return std::unique_ptr<WebhookDispatcher>(new WebhookDispatcher(std::move(impl)));
}

void WebhookDispatcher::start() {
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl] { impl->rescan(); });
  spawn_essential(impl->io.get_executor(), "the webhook reader", [impl] { return Impl::reader(impl); });
  impl->thread = std::thread([impl] { run_guarded(impl->io, "a webhook handler"); });
}

void WebhookDispatcher::stop() {
  Impl* impl = impl_.get();
  if (!impl->thread.joinable()) {
    return;
  }
  // On the dispatcher's thread: no new request; what finished is written; requests still in
  // flight are dropped (their batches stay in the outbox and go out after the restart).
  asio::post(impl->io, [impl] {
    impl->stopping = true;
    impl->poll.cancel();
    impl->commit();
    impl->io.stop();
  });
  impl->thread.join();
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
  std::size_t n = 0;
  {
    std::lock_guard lock(impl_->state_mutex);
    sqlite3* state = impl_->state;
    std::optional<std::size_t> moved;
    if (sqlite3_exec(state, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK
        || !(moved = move_to_outbox(state, impl_->deps, "dead", account.empty() ? "? = ''" : "account = ?", account))
        || sqlite3_exec(state, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      const std::string error = sqlite3_errmsg(state);
      sqlite3_exec(state, "ROLLBACK", nullptr, nullptr, nullptr);
      return make_error(ErrorCode::kIo, "webhooks: replay: " + error);
    }
    n = *moved;
  }
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl] { impl->rescan(); });
  return n;
}

WebhookStats WebhookDispatcher::stats() {
  WebhookStats s;
  s.posts = impl_->posts.load();
  s.delivered = impl_->delivered.load();
  s.refused = impl_->refused.load();
  s.failures = impl_->failures.load();
  s.dead = impl_->dead.load();
  s.breaker_trips = impl_->trips.load();
  s.lag = static_cast<std::uint64_t>(std::max<std::int64_t>(0, impl_->head.load() - impl_->last_seq.load()));
  {
    std::lock_guard lock(impl_->status_mutex);
    for (const auto& [key, st] : impl_->status) {
      if (st.state != "active") {
        ++s.endpoints_paused;
      }
    }
  }
  {
    std::lock_guard lock(impl_->state_mutex);
    Stmt r(impl_->state, "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM dead)");
    if (sqlite3_step(r.st) == SQLITE_ROW) {
      s.retry_backlog = static_cast<std::uint64_t>(r.num(0));
      s.dead_letters = static_cast<std::uint64_t>(r.num(1));
    }
  }
  return s;
}

EndpointStatus WebhookDispatcher::endpoint_status(const std::string& url) {
  const std::string key = endpoint_key(url);
  EndpointStatus st;
  {
    std::lock_guard lock(impl_->status_mutex);
    if (const auto it = impl_->status.find(key); it != impl_->status.end()) {
      st = it->second;
    }
  }
  std::lock_guard lock(impl_->state_mutex);
  Stmt q(impl_->state, "SELECT count(*) FROM outbox WHERE endpoint_key = ?");
  q.text(1, key);
  if (sqlite3_step(q.st) == SQLITE_ROW) {
    st.backlog = static_cast<std::uint64_t>(q.num(0));
  }
  return st;
}

}  // namespace txmail::events
