#include "events/webhooks.h"

#include <boost/beast/http.hpp>
#include <deque>
#include <random>
#include <set>
#include <unordered_map>

#include "common/duration.h"
#include "common/ids.h"
#include "common/log.h"
#include "events/webhook_batches.h"
#include "events/webhook_region.h"
#include "net/asio.h"

namespace txmail::events {

// The shared parts of the dispatcher (webhook_batches.h).
using webhook::Batch;
using webhook::Db;
using webhook::endpoint_key;
using webhook::kStateSchema;
using webhook::list_dead;
using webhook::load_due;
using webhook::read_round;
using webhook::ReadRound;
using webhook::replay_dead;
using webhook::request_for;
using webhook::Statement;
using webhook::Transaction;

namespace {

// What a finished try changes in the outbox, written with others in one transaction.
struct Completion {
  std::string key;  // the endpoint's lane
  std::int64_t id = 0;
  std::string handle;  // cluster: the region queue's, settled once written
  Answer answer = Answer::kRetry;
  int attempts = 0;  // tries made, this one included
  std::string error;
};

}  // namespace

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
  Db state;
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
  asio::executor_work_guard<asio::io_context::executor_type> busy{io.get_executor()};  // to stop()
  std::thread thread;
  Timer poll{io};
  Timer commit_timer{io};
  bool commit_armed = false;
  bool commit_failing = false;
  bool read_failing = false;    // the outbox cannot be written
  bool log_failing = false;     // the event log cannot be read
  bool rescan_failing = false;  // the outbox's endpoints could not be listed: again next round
  std::vector<Completion> completed;
  std::unordered_map<std::string, std::unique_ptr<Lane>> lanes;
  std::deque<Lane*> starved;
  std::size_t in_flight = 0;
  std::unique_ptr<webhook::RegionFeed> region;  // cluster mode; declared last: stopped first

  ~Impl() { lanes.clear(); }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  Impl(Impl&&) = delete;
  Impl& operator=(Impl&&) = delete;

  std::chrono::milliseconds jittered(std::chrono::milliseconds base) {
    std::uniform_real_distribution<double> d(0.75, 1.25);
    return std::chrono::milliseconds(
        static_cast<std::int64_t>(static_cast<double>(base.count()) * d(rng)));
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
    st.state = l.state == Lane::State::kActive   ? "active"
               : l.state == Lane::State::kPaused ? "paused"
                                                 : "probing";
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

  // Up to `n` of the lane's batches due at `now` and not already busy, oldest first.
  Result<std::vector<Batch>> due(Lane& l, std::size_t n, std::int64_t now) {
    std::lock_guard lock(state_mutex);
    return load_due(state, deps, l.key, l.busy, n, now);
  }

  // When the lane's next batch not yet due at `now` (the one due() was asked with) comes due.
  Result<std::optional<std::int64_t>> next_due(const Lane& l, std::int64_t now) {
    std::lock_guard lock(state_mutex);
    Statement q(state, "SELECT min(next_ms) FROM outbox WHERE endpoint_key = ? AND next_ms > ?");
    q.bind(1, l.key).bind(2, now);
    auto row = q.step();
    if (!row) {
      return tl::unexpected(row.error());
    }
    return *row && !q.is_null(0) ? std::optional<std::int64_t>(q.int64(0)) : std::nullopt;
  }

  // The outbox cannot be read now: the lane looks again in a second.
  void read_failed(Lane& l, const Error& e) {
    logger()->error("webhooks: cannot read the outbox of {}: {}", l.url.empty() ? l.key : l.url,
                    e.detail);
    arm(l, now_ms() + 1000);
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
        hand_back(l, l.paused_until_ms - now);
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
      const std::int64_t read_at = now_ms();  // one reading for both: none falls in between
      const std::size_t room = std::min(cap - l.in_flight, options.max_in_flight - in_flight);
      auto batches = due(l, room, read_at);
      if (!batches) {
        read_failed(l, batches.error());
        return;
      }
      if (batches->empty()) {
        auto at = next_due(l, read_at);
        if (!at) {
          read_failed(l, at.error());
        } else if (*at) {
          arm(l, **at);
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
      for (auto& b : *batches) {
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
      result = {Answer::kRefused, "not an http(s) URL"};
    } else {
      std::unique_ptr<WebhookConnection> connection;
      if (!l->idle.empty()) {
        connection = std::move(l->idle.back());
        l->idle.pop_back();
      } else {
        connection = std::make_unique<WebhookConnection>(self->io.get_executor(),
                                                         self->connection_options, self->tls);
      }
      try {
        auto req = request_for(b.endpoint, b.body, self->deps.secret_of(b.account), *url);
        result = co_await connection->post(*url, req);
      } catch (const std::exception& e) {
        result = {Answer::kRetry, std::string("internal error: ") + e.what()};
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
    switch (result.answer) {
      case Answer::kDelivered:
        posts.fetch_add(1, std::memory_order_relaxed);
        delivered.fetch_add(b.notifications, std::memory_order_relaxed);
        break;
      case Answer::kRefused:
        refused.fetch_add(1, std::memory_order_relaxed);
        logger()->warn("webhook refused account={} job={} url={}: {} (not retried)", b.account,
                       b.job_id, b.endpoint.url, result.error);
        break;
      case Answer::kRetry:
        failures.fetch_add(1, std::memory_order_relaxed);
        break;
    }
    if (result.answer == Answer::kRetry) {
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
    completed.push_back(
        Completion{l.key, b.id, b.handle, result.answer, b.attempt + 1, result.error});
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
      logger()->warn("webhook endpoint {} paused for {} ms after {} failures in a row: {}", l.url,
                     wait.count(), l.failures, l.last_error);
    }
    l.state = Lane::State::kPaused;
    l.paused_until_ms = now_ms() + wait.count();
    publish(l);
  }

  void hand_back(Lane& l, std::int64_t delay_ms) const {
    if (region) {
      region->hand_back(l.key, l.busy, std::chrono::milliseconds(delay_ms));
    }
  }

  void settle_queued(const Completion& c, bool last) {
    const auto wait = last ? std::chrono::milliseconds(0)
                           : jittered(schedule()[static_cast<std::size_t>(c.attempts) - 1]);
    region->settle(c.handle, c.answer != Answer::kRetry, last, wait, c.error, c.attempts);
  }

  // --- the outbox's writes ---------------------------------------------------------------

  void arm_commit() {
    if (commit_armed) {
      return;
    }
    commit_armed = true;
    commit_timer.expires_after(commit_failing ? std::chrono::milliseconds(1000)
                                              : std::chrono::milliseconds(5));
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
    Result<void> written = write(done, now_ms());
    if (!written) {
      if (!commit_failing) {
        logger()->error("webhooks: cannot write the outbox ({}); retrying every second",
                        written.error().detail);
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

  // The completions in one transaction: all of them, or none (rolled back).
  Result<void> write(const std::vector<Completion>& done, std::int64_t now) {
    std::lock_guard lock(state_mutex);
    auto tx = Transaction::begin(state);
    if (!tx) {
      return tl::unexpected(tx.error());
    }
    std::size_t died = 0;
    for (const auto& c : done) {
      auto applied = apply(c, now);
      if (!applied) {
        return tl::unexpected(applied.error());
      }
      died += *applied ? 1 : 0;
    }
    if (auto committed = tx->commit(); !committed) {
      return committed;
    }
    for (const auto& c : done) {
      const bool last = static_cast<std::size_t>(c.attempts) > schedule().size();
      if (c.answer == Answer::kRetry && last) {
        logger()->error("webhook dead letter id={} after {} tries: {}", c.id, c.attempts, c.error);
        died += c.handle.empty() ? 0 : 1;
      }
      if (!c.handle.empty()) {
        settle_queued(c, last);
      }
    }
    dead.fetch_add(died, std::memory_order_relaxed);
    return {};
  }

  // One completion's change to the outbox; true when the batch became a dead letter.
  Result<bool> apply(const Completion& c, std::int64_t now) {
    Statement del(state, "DELETE FROM outbox WHERE id = ?");
    del.bind(1, c.id);
    if (!c.handle.empty()) {  // the region's: settled with the queue once this is written
      return del.run().map([] { return false; });
    }
    if (c.answer != Answer::kRetry) {
      return del.run().map([] { return false; });
    }
    if (static_cast<std::size_t>(c.attempts) > schedule().size()) {
      Statement ins(
          state,
          "INSERT INTO dead (account, job_id, endpoint, body, notifications, attempt, next_ms,"
          " last_error, created_ms) SELECT account, job_id, endpoint, body, notifications, ?, 0, ?,"
          " created_ms FROM outbox WHERE id = ?");
      ins.bind(1, std::int64_t{c.attempts}).bind(2, c.error).bind(3, c.id);
      auto moved = ins.run().and_then([&] { return del.run(); });
      return moved.map([] { return true; });
    }
    Statement up(state, "UPDATE outbox SET attempt = ?, next_ms = ?, last_error = ? WHERE id = ?");
    up.bind(1, std::int64_t{c.attempts});
    up.bind(2, now + jittered(schedule()[static_cast<std::size_t>(c.attempts) - 1]).count());
    up.bind(3, c.error).bind(4, c.id);
    return up.run().map([] { return false; });
  }

  // --- the reader --------------------------------------------------------------------------

  Result<std::int64_t> position() {
    std::lock_guard lock(state_mutex);
    Statement q(state, "SELECT seq FROM position WHERE id = 1");
    auto row = q.step();
    if (!row) {
      return tl::unexpected(row.error());
    }
    if (!*row) {  // the schema puts it there: never read from the start by mistake
      return make_error(ErrorCode::kCorrupt, state.name() + ": no position");
    }
    return q.int64(0);
  }

  // The new batches and the position after them, in one transaction (cluster: the batches in
  // the region's queue first, then the position).
  Result<void> store(const ReadRound& round, std::int64_t now, std::set<std::string>& keys) {
    if (region) {
      if (auto put = region->put(round); !put) {
        return put;
      }
    }
    std::lock_guard lock(state_mutex);
    // Whatever leaves early (an error, an exception from sealing) rolls back.
    auto tx = Transaction::begin(state);
    if (!tx) {
      return tl::unexpected(tx.error());
    }
    Statement ins(
        state,
        "INSERT INTO outbox (endpoint_key, account, job_id, endpoint, body, notifications,"
        " attempt, next_ms, last_error, created_ms) VALUES (?,?,?,?,?,?,0,?,'',?)");
    static const std::vector<webhook::NewBatch> kNone;  // cluster: they went to the region
    for (const auto& b : region ? kNone : round.batches) {
      const std::string key = endpoint_key(b.endpoint.url);
      ins.bind(1, key).bind(2, b.account).bind(3, b.job_id);
      ins.bind(4, deps.seal(to_json(b.endpoint), "webhook:" + b.job_id)).bind(5, b.body);
      ins.bind(6, static_cast<std::int64_t>(b.notifications)).bind(7, now).bind(8, now);
      if (auto done = ins.run(); !done) {
        return done;
      }
      ins.reset();
      keys.insert(key);
    }
    Statement pos(state, "UPDATE position SET seq = ? WHERE id = 1");
    if (auto done = pos.bind(1, round.last_seq).run(); !done) {
      return done;
    }
    return tx->commit();
  }

  // The next events after the position, stored as batches in the outbox with the new position
  // (one transaction), and their lanes started; false when there were none (or the write
  // failed: the same events are read again next time).
  bool event_round() {
    const auto at = position();
    if (!at) {
      if (!read_failing) {
        logger()->error("webhooks: cannot read the position ({}); retrying every second",
                        at.error().detail);
      }
      read_failing = true;
      return false;
    }
    const std::int64_t from = *at;
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
    std::set<std::string> keys;
    if (auto stored = store(round, now_ms(), keys); !stored) {
      if (!read_failing) {
        logger()->error("webhooks: cannot store new notifications ({}); retrying every second",
                        stored.error().detail);
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
      if (self->rescan_failing) {
        self->rescan();
      }
      const bool failing = self->read_failing || self->log_failing || self->rescan_failing;
      self->poll.expires_after(failing ? std::chrono::milliseconds(1000) : self->options.poll);
      co_await self->poll.async_wait(use_tuple);
    }
  }

  // Starts a lane for every endpoint with batches in the outbox (at start, after a replay).
  void rescan() {
    std::vector<std::string> keys;
    {
      std::lock_guard lock(state_mutex);
      Statement q(state, "SELECT DISTINCT endpoint_key FROM outbox");
      if (auto read = q.each([&] { keys.push_back(q.text(0)); }); !read) {
        if (!rescan_failing) {
          logger()->error("webhooks: cannot list the outbox ({}); retrying every second",
                          read.error().detail);
        }
        rescan_failing = true;  // the reader calls again
        return;
      }
      rescan_failing = false;
    }
    for (const auto& key : keys) {
      pump(lane(key));
    }
  }
};

WebhookDispatcher::WebhookDispatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WebhookDispatcher::~WebhookDispatcher() {
  try {
    stop();
  } catch (const std::exception& e) {  // joining the thread failed: nothing left to do
    logger()->error("webhooks: stopping the dispatcher: {}", e.what());
  }
}

Result<std::unique_ptr<WebhookDispatcher>> WebhookDispatcher::open(Deps deps,
                                                                   WebhookOptions options) {
  auto impl = std::make_unique<Impl>(std::move(deps));
  if (options.retry_schedule.empty()) {
    options.retry_schedule = default_retry_schedule();
  }
  impl->options = std::move(options);
  impl->connection_options.source_address = impl->options.source_address;
  impl->connection_options.allow_private_targets = impl->options.allow_private_targets;
  impl->connection_options.timeout = impl->options.timeout;
  impl->connection_options.resolver = impl->deps.resolver;
  store::sqlite::OpenOptions state_options;
  state_options.wal = true;
  state_options.synchronous = store::sqlite::OpenOptions::Synchronous::kFull;
  state_options.busy_timeout_ms = 5000;
  state_options.schema = kStateSchema;
  auto state = Db::open(impl->deps.state_db, "webhook state", state_options);
  if (!state) {
    return tl::unexpected(state.error());
  }
  impl->state = std::move(*state);
  if (auto prepared = webhook::prepare_outbox(impl->state, impl->deps); !prepared) {
    return tl::unexpected(prepared.error());
  }
  if (impl->deps.queue != nullptr) {
    impl->region = std::make_unique<webhook::RegionFeed>(
        *impl->deps.queue, impl->state, impl->state_mutex, impl->deps, impl->options);
  }
  impl->tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  impl->tls->set_default_verify_paths();
  impl->tls->set_verify_mode(asio::ssl::verify_peer);
  impl->tls->set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  return std::unique_ptr<WebhookDispatcher>(new WebhookDispatcher(std::move(impl)));
}

void WebhookDispatcher::start() {
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl] { impl->rescan(); });
  if (impl->region) {
    // The reader on a thread of its own: it waits for the region, the lanes never do.
    impl->region->start([impl] { return impl->event_round(); },
                        [impl] { return impl->read_failing || impl->log_failing; },
                        impl->options.poll,
                        [impl](std::set<std::string> keys) {
                          asio::post(impl->io, [impl, keys = std::move(keys)] {
                            for (const auto& key : keys) {
                              impl->pump(impl->lane(key));
                            }
                          });
                        });
  } else {
    spawn_essential(impl->io.get_executor(), "the webhook reader",
                    [impl] { return Impl::reader(impl); });
  }
  impl->thread = std::thread([impl] { run_guarded(impl->io, "a webhook handler"); });
}

void WebhookDispatcher::stop() {
  Impl* impl = impl_.get();
  if (!impl->thread.joinable()) {
    return;
  }
  // On the dispatcher's thread: no new request; what finished is written (and settled with the
  // region); requests still in flight are dropped (their batches stay in the outbox and go out
  // after the restart; cluster: the region hands them to another node once this one stopped).
  asio::post(impl->io, [impl] {
    impl->stopping = true;
    impl->poll.cancel();
    impl->commit();
    impl->io.stop();
  });
  impl->thread.join();
  if (impl->region) {
    impl->region->stop();  // only now: no batch handed back while a lane still sends it
  }
}

Result<std::vector<DeadLetter>> WebhookDispatcher::dead_letters(const std::string& account,
                                                                std::size_t limit) {
  if (impl_->deps.queue != nullptr) {
    return impl_->deps.queue->dead_letters(account, limit);
  }
  std::lock_guard lock(impl_->state_mutex);
  return list_dead(impl_->state, impl_->deps, account, limit);
}

Result<std::size_t> WebhookDispatcher::replay(const std::string& account) {
  if (impl_->deps.queue != nullptr) {
    return impl_->deps.queue->replay(account);
  }
  Result<std::size_t> moved;
  {
    std::lock_guard lock(impl_->state_mutex);
    moved = replay_dead(impl_->state, impl_->deps, account);
  }
  if (moved) {
    Impl* impl = impl_.get();
    asio::post(impl->io, [impl] { impl->rescan(); });
  }
  return moved;
}

WebhookStats WebhookDispatcher::stats() {
  WebhookStats s;
  s.posts = impl_->posts.load();
  s.delivered = impl_->delivered.load();
  s.refused = impl_->refused.load();
  s.failures = impl_->failures.load();
  s.dead = impl_->dead.load();
  s.breaker_trips = impl_->trips.load();
  // Against the log's head now, not at the latest round: an event appended since counts.
  std::int64_t head = impl_->head.load();
  if (auto h = impl_->deps.event_log.last_seq()) {
    head = std::max(head, *h);
  }
  s.lag = static_cast<std::uint64_t>(std::max<std::int64_t>(0, head - impl_->last_seq.load()));
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
    Statement r(impl_->state, "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM dead)");
    if (auto row = r.step(); row && *row) {
      s.retry_backlog = static_cast<std::uint64_t>(r.int64(0));
      s.dead_letters = impl_->deps.queue != nullptr ? impl_->deps.queue->dead_count()
                                                    : static_cast<std::uint64_t>(r.int64(1));
    } else if (!row) {
      logger()->error("webhooks: metrics: {}", row.error().detail);
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
  Statement q(impl_->state, "SELECT count(*) FROM outbox WHERE endpoint_key = ?");
  q.bind(1, key);
  if (auto row = q.step(); row && *row) {
    st.backlog = static_cast<std::uint64_t>(q.int64(0));
  } else if (!row) {
    logger()->error("webhooks: endpoint status: {}", row.error().detail);
  }
  return st;
}

}  // namespace txmail::events
