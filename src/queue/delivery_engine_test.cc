// The delivery engine's waits (issue deliver-2): every way a unit can wait for something (a
// slot of its egress source, its destination's connection limit, its destination's rate, a
// back-off after a failure, a DNS lookup slot) ends by its own wake-up when the reason ends,
// never by polling and never not at all. Time is txmail's one clock, moved by the test
// (Clock::advance): a wait that needs time passes only when the test moves it, and one that
// needs none is over while the clock stands still. The destinations are minimal SMTP servers
// on loopback inside the test; the spool is a RocksSpool in a temporary directory.
#include "queue/delivery_engine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/ids.h"
#include "dns/fake_resolver.h"
#include "store/rocks_spool.h"

namespace txmail::queue {
namespace {

using namespace std::chrono_literals;

// An MX that answers every command with 250 (DATA with 354, then 250 after the dot). Counts
// connections and messages.
class TestMx {
 public:
  explicit TestMx(asio::io_context& io, std::uint16_t port = 0)
      : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port)) {
    asio::co_spawn(io, accept_loop(this), asio::detached);
  }

  ~TestMx() { close(); }

  TestMx(const TestMx&) = delete;
  TestMx& operator=(const TestMx&) = delete;
  TestMx(TestMx&&) = delete;
  TestMx& operator=(TestMx&&) = delete;

  std::uint16_t port() const { return port_; }

  void close() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

  int messages = 0;
  int connections = 0;
  int open = 0;
  int max_open = 0;
  std::string rcpt_reply = "250 2.1.5 ok\r\n";  // what every RCPT TO gets
  std::vector<std::string> rcpts;               // every RCPT TO line, in order

 private:
  static awaitable<void> accept_loop(TestMx* self) {
    for (;;) {
      auto [ec, socket] = co_await self->acceptor_.async_accept(use_tuple);
      if (ec) {
        co_return;
      }
      asio::co_spawn(self->acceptor_.get_executor(), session(self, std::move(socket)),
                     asio::detached);
    }
  }

  static awaitable<void> session(TestMx* self, tcp::socket s) {
    ++self->connections;
    self->max_open = std::max(self->max_open, ++self->open);
    std::string buffer;
    auto say = [&](std::string line) -> awaitable<bool> {
      auto [ec, n] = co_await asio::async_write(s, asio::buffer(line), use_tuple);
      co_return !ec;
    };
    if (co_await say("220 mx.test ESMTP\r\n")) {
      for (;;) {
        auto [ec, n] =
            co_await asio::async_read_until(s, asio::dynamic_buffer(buffer), "\r\n", use_tuple);
        if (ec) {
          break;
        }
        const std::string line = buffer.substr(0, n);
        buffer.erase(0, n);
        if (line.starts_with("QUIT")) {
          co_await say("221 bye\r\n");
          break;
        }
        if (line.starts_with("DATA")) {
          co_await say("354 go on\r\n");
          auto [dec, dn] = co_await asio::async_read_until(s, asio::dynamic_buffer(buffer),
                                                           "\r\n.\r\n", use_tuple);
          if (dec) {
            break;
          }
          buffer.erase(0, dn);
          ++self->messages;
          co_await say("250 2.0.0 queued\r\n");
          continue;
        }
        if (line.starts_with("RCPT")) {
          self->rcpts.push_back(line.substr(0, line.size() - 2));
          co_await say(self->rcpt_reply);
          continue;
        }
        co_await say("250 mx.test\r\n");
      }
    }
    --self->open;
  }

  tcp::acceptor acceptor_;
  std::uint16_t port_ = acceptor_.local_endpoint().port();
};

// MX lookups that take `delay` on txmail's clock; addresses at once.
class SlowResolver final : public dns::Resolver {
 public:
  SlowResolver(dns::Resolver& inner, Clock::duration delay) : inner_(inner), delay_(delay) {}

  awaitable<Result<dns::Answer>> query(std::string name, dns::RecordType type) override {
    if (type == dns::RecordType::kMx) {
      ++mx_started;
      Timer t(co_await asio::this_coro::executor, delay_);
      co_await t.async_wait(use_tuple);
    }
    co_return co_await inner_.query(std::move(name), type);
  }

  int mx_started = 0;

 private:
  dns::Resolver& inner_;
  Clock::duration delay_;
};

// The spool as cluster mode shows it to the engine: the lease and the jobs taken away are
// switches the test sets.
class GatedSpool final : public store::Spool {
 public:
  explicit GatedSpool(store::Spool& inner) : inner_(inner) {}

  void put(const store::SpoolRecord& r, Done done) override { inner_.put(r, std::move(done)); }

  void update_recipients(const std::string& id, const std::vector<store::SpoolRecipient>& rcpts,
                         Done done) override {
    ++writes;
    inner_.update_recipients(id, rcpts, std::move(done));
  }

  void erase(const std::string& id, Done done) override {
    ++writes;
    inner_.erase(id, std::move(done));
  }

  Result<std::optional<store::SpoolRecord>> get(const std::string& id) override {
    return inner_.get(id);
  }

  Result<std::size_t> scan(const std::function<bool(store::SpoolRecord&&)>& fn,
                           const std::function<void(const Error&)>& on_corrupt,
                           Messages messages) override {
    return inner_.scan(fn, on_corrupt, messages);
  }

  void close() override {}

  bool may_deliver() const override { return lease.load(); }

  bool owns(const std::string& id) const override {
    std::lock_guard lock(mutex);
    return !taken.contains(id);
  }

  std::atomic<bool> lease{true};
  mutable std::mutex mutex;
  std::set<std::string> taken;  // under mutex
  std::atomic<int> writes{0};

 private:
  store::Spool& inner_;
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Clock::advance(0s);  // timers look at the moved clock from now on
    dir_ = std::filesystem::temp_directory_path()
           / ("txmail-engine-" + std::to_string(::getpid()) + "-"
              + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    spool_ =
        std::move(*store::RocksSpool::open(dir_.string(), store::RocksSpool::Mode::kReadWrite));
    gate_ = std::make_unique<GatedSpool>(*spool_);
    options_.tls = smtp::TlsMode::kDisabled;
    options_.client.connect_timeout = 2s;
    options_.client.greeting_timeout = 2s;
    options_.client.command_timeout = 2s;
    options_.idle_connection = std::chrono::hours(1);  // only a waiter can take an idle slot
  }

  void TearDown() override {
    if (engine_) {
      bool stopped = false;
      engine_->stop([&] { stopped = true; });
      run_until([&] { return stopped; }, 15s);
      engine_.reset();
    }
    for (auto& m : mxs_) {
      m->close();
    }
    // Every MX session has seen its connection close before the MX objects go.
    run_until(
        [&] { return std::all_of(mxs_.begin(), mxs_.end(), [](auto& m) { return m->open == 0; }); },
        5s);
    mxs_.clear();
    io_.restart();
    io_.poll();
    gate_.reset();
    spool_->close();
    spool_.reset();
    workers_.join();
    std::filesystem::remove_all(dir_);
  }

  // A destination MX, alive until the end of the test (after the engine has stopped).
  TestMx& mx(std::uint16_t port = 0) {
    mxs_.push_back(std::make_unique<TestMx>(io_, port));
    return *mxs_.back();
  }

  // Routes `domain` to `mx` (no DNS).
  void route(const std::string& domain, const TestMx& mx) {
    options_.routes.push_back(RouteRule{domain, smtp::Route{"127.0.0.1", mx.port()}});
  }

  // `recover`: the schedule is rebuilt from the spool first, as a node does at start.
  void start(dns::Resolver* resolver = nullptr, bool recover = false) {
    engine_ = std::make_unique<DeliveryEngine>(
        io_, options_, "engine.test", *gate_, resolver != nullptr ? *resolver : fake_, workers_,
        std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client), nullptr,
        [this](const Outcome& o) { outcomes_[o.recipient].push_back(o.kind); });
    if (recover) {
      recover_from_spool(*gate_, *engine_);
    }
    engine_->start();
  }

  // Puts a job straight into the spool (as a node that stopped left it).
  void put(const store::SpoolRecord& r) {
    std::promise<Result<void>> done;
    spool_->put(r, [&](const Result<void>& res) { done.set_value(res); });
    ASSERT_TRUE(done.get_future().get());
  }

  void send(const std::string& recipient) {
    store::SpoolRecord r;
    r.job_id = new_job_id();
    r.account = "acct";
    r.sender = "s@sender.test";
    r.received_ms = now_ms();
    r.recipients.push_back(
        store::SpoolRecipient{recipient, mail_id_of(r.job_id, 0, 0), {}, 0, now_ms()});
    r.message = "Subject: t\r\n\r\nhello\r\n";
    bool stored = false;
    spool_->put(r, [&](const Result<void>& ok) {
      ASSERT_TRUE(ok.has_value());
      asio::post(io_, [&] { stored = true; });
    });
    ASSERT_TRUE(run_until([&] { return stored; }, 5s));
    engine_->submit(r);
  }

  bool delivered(const std::string& recipient) {
    const auto it = outcomes_.find(recipient);
    return it != outcomes_.end() && !it->second.empty()
           && it->second.back() == Outcome::Kind::kDelivered;
  }

  bool deferred(const std::string& recipient) {
    const auto it = outcomes_.find(recipient);
    return it != outcomes_.end() && !it->second.empty()
           && it->second.back() == Outcome::Kind::kDeferred;
  }

  // Runs the engine's io_context until `done` holds or `limit` of real time passed; the clock
  // does not move meanwhile.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_for(2ms);
    }
    return done();
  }

  // A loopback port where nothing listens: connections are refused (until an MX binds it).
  std::uint16_t refused_port() {
    tcp::acceptor probe(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return probe.local_endpoint().port();
  }

  // An action of the operator's, run to its answer.
  template <typename Start>
  QueueActionResult act(Start start) {
    std::optional<QueueActionResult> result;
    start([&result](QueueActionResult r) { result = r; });
    run_until([&] { return result.has_value(); }, 5s);
    return result.value_or(QueueActionResult{});
  }

  std::shared_ptr<const QueueView> view() {
    std::shared_ptr<const QueueView> v;
    engine_->view([&v](std::shared_ptr<const QueueView> got) { v = std::move(got); });
    run_until([&] { return v != nullptr; }, 5s);
    return v ? v : std::make_shared<QueueView>();
  }

  // Lets whatever needs no time happen, without moving the clock.
  void settle() {
    run_until([] { return false; }, 300ms);
  }

  asio::io_context io_;
  std::vector<std::unique_ptr<TestMx>> mxs_;
  asio::thread_pool workers_{1};
  std::filesystem::path dir_;
  std::unique_ptr<store::RocksSpool> spool_;
  std::unique_ptr<GatedSpool> gate_;  // what the engine sees of spool_
  dns::FakeResolver fake_;
  DeliveryOptions options_;
  std::unique_ptr<DeliveryEngine> engine_;
  std::map<std::string, std::vector<Outcome::Kind>> outcomes_;
};

// The source has one slot. a's connection, done, sits idle (for an hour, as configured); b
// waits for the slot, and a's idle connection gives it back at once: nobody waits for the
// idle time to end. Before issue deliver-2 b waited until a's connection quit, and a
// destination that came to wait while the source was full was never woken at all.
TEST_F(EngineTest, SourceSlotFreedWakesTheNextDestination) {
  TestMx& a = mx();
  TestMx& b = mx();
  TestMx& c = mx();
  route("a.test", a);
  route("b.test", b);
  route("c.test", c);
  options_.max_connections_per_source = 1;
  start();
  send("x@a.test");
  ASSERT_TRUE(run_until([&] { return delivered("x@a.test"); }, 5s));
  send("x@b.test");
  send("x@c.test");
  ASSERT_TRUE(run_until([&] { return delivered("x@b.test") && delivered("x@c.test"); }, 5s))
      << "a destination waiting for the source's slot was not woken";
  EXPECT_EQ(a.max_open + b.max_open + c.max_open, 3);
  EXPECT_LE(a.max_open, 1);
  EXPECT_EQ(a.connections, 1);
  EXPECT_EQ(b.connections, 1);
  EXPECT_EQ(c.connections, 1);
}

// The destination allows one connection and one message per connection: the second and third
// messages wait for that connection to end and go out on the next, one at a time.
TEST_F(EngineTest, DestinationLimitWaitEndsWithTheConnection) {
  TestMx& a = mx();
  route("a.test", a);
  options_.max_connections_per_site = 1;
  options_.max_messages_per_connection = 1;
  start();
  for (int i = 0; i < 3; ++i) {
    send("m" + std::to_string(i) + "@a.test");
  }
  ASSERT_TRUE(run_until([&] { return a.messages == 3; }, 5s));
  EXPECT_EQ(a.max_open, 1);
  EXPECT_EQ(a.connections, 3);
}

// The destination takes one message every 10 s: the second waits for the clock, and goes as
// soon as it has moved, not before.
TEST_F(EngineTest, RateWaitEndsWhenTheClockReachesTheNextSlot) {
  TestMx& a = mx();
  route("a.test", a);
  options_.rate_per_site = 0.1;
  start();
  send("one@a.test");
  send("two@a.test");
  ASSERT_TRUE(run_until([&] { return a.messages == 1; }, 5s));
  settle();
  EXPECT_EQ(a.messages, 1) << "the second message did not wait for its rate";
  Clock::advance(5s);
  settle();
  EXPECT_EQ(a.messages, 1) << "sent half-way through the interval";
  Clock::advance(5s);
  ASSERT_TRUE(run_until([&] { return a.messages == 2; }, 5s))
      << "the rate wait did not end when the clock reached the next slot";
}

// A destination that refuses connections is backed off and its unit deferred; when the MX
// is back and the retry time has come, the unit goes out, without anything else happening.
TEST_F(EngineTest, BackoffWaitEndsAtTheRetryTime) {
  const std::uint16_t port = refused_port();
  options_.routes.push_back(RouteRule{"a.test", smtp::Route{"127.0.0.1", port}});
  options_.retry.schedule = {std::chrono::minutes(1)};
  start();
  send("x@a.test");
  ASSERT_TRUE(run_until([&] { return deferred("x@a.test"); }, 5s));
  // The MX is back on that port; until the clock reaches the retry time nothing happens.
  TestMx& back = mx(port);
  settle();
  EXPECT_EQ(back.connections, 0) << "retried before the back-off ended";
  Clock::advance(std::chrono::seconds(40));
  settle();
  EXPECT_EQ(back.connections, 0) << "retried before the back-off ended";
  Clock::advance(std::chrono::seconds(40));  // past 1 min + 20% jitter
  ASSERT_TRUE(run_until([&] { return delivered("x@a.test"); }, 5s))
      << "the back-off wait did not end at the retry time";
  EXPECT_EQ(back.connections, 1);
}

// One DNS lookup at a time (max_dns_lookups = 1), each MX lookup taking 10 s: the second
// domain's lookup starts when the first one's ends, and its message goes 10 s later.
TEST_F(EngineTest, DnsWaitEndsWhenALookupSlotFrees) {
  TestMx& dest = mx();
  options_.mx_port = dest.port();
  options_.max_dns_lookups = 1;
  for (const char* domain : {"one.test", "two.test"}) {
    dns::Answer m;
    m.mx.push_back(dns::MxRecord{10, std::string("mx.") + domain});
    m.ttl = 300s;
    fake_.set(domain, dns::RecordType::kMx, m);
    dns::Answer a;
    a.values.emplace_back("127.0.0.1");
    a.ttl = 300s;
    fake_.set(std::string("mx.") + domain, dns::RecordType::kA, a);
    fake_.set(std::string("mx.") + domain, dns::RecordType::kAaaa, dns::Answer{});
  }
  SlowResolver slow(fake_, 10s);
  start(&slow);
  send("x@one.test");
  send("x@two.test");
  settle();
  EXPECT_EQ(slow.mx_started, 1) << "a second lookup started beside the first";
  EXPECT_EQ(dest.messages, 0);
  Clock::advance(10s);
  ASSERT_TRUE(run_until([&] { return dest.messages == 1; }, 5s));
  settle();
  EXPECT_EQ(slow.mx_started, 2) << "the second lookup did not start when the first ended";
  EXPECT_EQ(dest.messages, 1);
  Clock::advance(10s);
  ASSERT_TRUE(run_until([&] { return dest.messages == 2; }, 5s))
      << "the DNS wait did not end when the lookup slot freed";
}

// Recovery: the schedule rebuilt from the spool at start. A delivered recipient is never sent
// again, a queued one due now goes at once, one due in ten minutes (another domain: a job's
// recipients of one domain share a unit, due at the earliest of them) waits for the clock, and
// a job whose recipients are all final (a crash between the last update and the erase) leaves
// the spool without a connection.
TEST_F(EngineTest, RecoveryResumesEachRecipientFromItsState) {
  TestMx& a = mx();
  route("a.test", a);
  route("b.test", a);
  const std::int64_t now = now_ms();
  store::SpoolRecord open;
  open.job_id = new_job_id();
  open.account = "acct";
  open.sender = "s@sender.test";
  open.received_ms = now;
  open.message = "Subject: t\r\n\r\nhello\r\n";
  using store::RecipientStatus;
  open.recipients = {
      {"done@a.test", mail_id_of(open.job_id, 0, 0), RecipientStatus::kDelivered, 1, 0},
      {"now@a.test", mail_id_of(open.job_id, 0, 1), RecipientStatus::kQueued, 1, now},
      {"later@b.test", mail_id_of(open.job_id, 0, 2), RecipientStatus::kQueued, 1,
       now + std::int64_t{10} * 60 * 1000}};
  store::SpoolRecord finished = open;
  finished.job_id = new_job_id();
  for (auto& r : finished.recipients) {
    r.mail_id = mail_id_of(finished.job_id, 0, 0);
    r.status = RecipientStatus::kBounced;
  }
  put(open);
  put(finished);
  start(nullptr, true);

  ASSERT_TRUE(run_until([&] { return delivered("now@a.test"); }, 5s));
  settle();
  EXPECT_EQ(a.rcpts, std::vector<std::string>{"RCPT TO:<now@a.test>"});
  auto gone = spool_->get(finished.job_id);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value()) << "a job with every recipient final stayed in the spool";
  Clock::advance(std::chrono::minutes(11));
  ASSERT_TRUE(run_until([&] { return delivered("later@b.test"); }, 5s))
      << "the recipient due later was not sent when its time came";
  EXPECT_EQ(a.rcpts, (std::vector<std::string>{"RCPT TO:<now@a.test>", "RCPT TO:<later@b.test>"}));
  EXPECT_FALSE(outcomes_.contains("done@a.test"));
}

// Cluster mode: jobs taken over from another node join the running engine; recipients already
// final there are not sent again, and a job with none left leaves the spool.
TEST_F(EngineTest, AdoptedJobsJoinTheRunningQueue) {
  TestMx& a = mx();
  route("a.test", a);
  start();
  const std::int64_t now = now_ms();
  using store::RecipientStatus;
  store::SpoolRecord open;
  open.job_id = new_job_id();
  open.account = "acct";
  open.received_ms = now - 60'000;
  open.message = "Subject: t\r\n\r\nhello\r\n";
  open.recipients = {
      {"sent@a.test", mail_id_of(open.job_id, 0, 0), RecipientStatus::kDelivered, 1, 0},
      {"left@a.test", mail_id_of(open.job_id, 0, 1), RecipientStatus::kQueued, 0, now}};
  store::SpoolRecord finished = open;
  finished.job_id = new_job_id();
  finished.recipients.resize(1);
  put(open);
  put(finished);
  engine_->adopt({open, finished});
  ASSERT_TRUE(run_until([&] { return delivered("left@a.test"); }, 5s));
  EXPECT_EQ(a.rcpts, std::vector<std::string>{"RCPT TO:<left@a.test>"});
  ASSERT_TRUE(run_until([&] { return !spool_->get(finished.job_id)->has_value(); }, 5s))
      << "a job adopted with every recipient final stayed in the spool";
  EXPECT_FALSE(outcomes_.contains("sent@a.test"));
}

// A job another node took over is dropped at its next attempt: nothing sent, no event, no
// spool write (the spool is the new owner's business).
TEST_F(EngineTest, AJobTakenOverIsDroppedWithoutAnEvent) {
  TestMx& a = mx();
  route("a.test", a);
  gate_->lease = false;  // hold it until it is taken
  start();
  send("gone@a.test");
  settle();
  ASSERT_EQ(engine_->queued_jobs(), 1U);
  std::string job;
  (void)spool_->scan(
      [&](store::SpoolRecord&& r) {
        job = r.job_id;
        return false;
      },
      [](const Error&) {}, store::Spool::Messages::kEnvelopes);
  ASSERT_FALSE(job.empty());
  {
    std::lock_guard lock(gate_->mutex);
    gate_->taken.insert(job);
  }
  const int writes = gate_->writes.load();
  gate_->lease = true;
  ASSERT_TRUE(run_until([&] { return engine_->queued_jobs() == 0; }, 5s));
  settle();
  EXPECT_TRUE(a.rcpts.empty());
  EXPECT_FALSE(outcomes_.contains("gone@a.test"));
  EXPECT_EQ(gate_->writes.load(), writes);
  EXPECT_TRUE(spool_->get(job)->has_value()) << "the engine erased a job it no longer owns";
}

// While the lease is not confirmed nothing is sent and no attempt is counted; once it is, the
// job goes out.
TEST_F(EngineTest, NothingIsSentWhileTheLeaseIsNotConfirmed) {
  TestMx& a = mx();
  route("a.test", a);
  gate_->lease = false;
  start();
  send("wait@a.test");
  Clock::advance(std::chrono::minutes(5));
  settle();
  EXPECT_TRUE(a.rcpts.empty());
  EXPECT_FALSE(outcomes_.contains("wait@a.test"));
  gate_->lease = true;
  ASSERT_TRUE(run_until([&] { return delivered("wait@a.test"); }, 5s));
  EXPECT_EQ(outcomes_["wait@a.test"].size(), 1U) << "a deferral was counted while waiting";
}

// A recipient answered 4xx is tried again when its retry time comes, and once the message is
// older than the retry policy's max_age, the next 4xx bounces it (soft) instead of deferring.
TEST_F(EngineTest, TemporaryFailuresAreRetriedUntilTheMessageExpires) {
  TestMx& a = mx();
  a.rcpt_reply = "451 4.2.1 try later\r\n";
  route("a.test", a);
  options_.retry.schedule = {std::chrono::minutes(1)};
  options_.retry.tail = std::chrono::minutes(1);
  options_.retry.max_age = std::chrono::minutes(3);
  start();
  send("x@a.test");
  ASSERT_TRUE(run_until([&] { return deferred("x@a.test"); }, 5s));
  EXPECT_EQ(a.rcpts.size(), 1U);
  Clock::advance(std::chrono::seconds(30));
  settle();
  EXPECT_EQ(a.rcpts.size(), 1U) << "retried before its time";
  Clock::advance(std::chrono::seconds(50));  // past 1 min + 20% jitter
  ASSERT_TRUE(run_until([&] { return outcomes_["x@a.test"].size() == 2; }, 5s));
  EXPECT_EQ(outcomes_["x@a.test"].back(), Outcome::Kind::kDeferred);
  EXPECT_EQ(a.rcpts.size(), 2U);
  Clock::advance(std::chrono::minutes(2));  // older than max_age at the next try
  ASSERT_TRUE(run_until([&] { return outcomes_["x@a.test"].size() == 3; }, 5s));
  EXPECT_EQ(outcomes_["x@a.test"].back(), Outcome::Kind::kBouncedSoft);
  EXPECT_EQ(a.rcpts.size(), 3U);
  Clock::advance(std::chrono::minutes(5));
  settle();
  EXPECT_EQ(a.rcpts.size(), 3U) << "tried again after it bounced";
}

// The operator's hand (queue_view.h). A paused domain's mail waits without an attempt or an
// event, also when time passes, while another domain's goes; the view shows it held; a resume
// sends it without the clock moving.
TEST_F(EngineTest, APausedDomainWaitsWithoutAttemptsUntilResumed) {
  TestMx& a = mx();
  route("a.test", a);
  route("b.test", a);
  start();
  const auto paused = act([&](auto done) { engine_->pause({false, "a.test"}, 0, done); });
  EXPECT_TRUE(paused.found);
  send("x@a.test");
  send("y@b.test");
  ASSERT_TRUE(run_until([&] { return delivered("y@b.test"); }, 5s));
  settle();
  EXPECT_FALSE(outcomes_.contains("x@a.test")) << "a paused domain's mail was tried";
  Clock::advance(std::chrono::minutes(6));
  settle();
  EXPECT_FALSE(outcomes_.contains("x@a.test")) << "a paused domain's mail was tried later";
  const auto v = view();
  EXPECT_EQ(v->jobs, 1U);
  ASSERT_EQ(v->waiting.size(), 1U);
  EXPECT_EQ(v->waiting[0].domain, "a.test");
  EXPECT_EQ(v->waiting[0].recipients, 1U);
  EXPECT_EQ(v->waiting[0].held, 1U);
  EXPECT_TRUE(v->waiting[0].paused);
  ASSERT_EQ(v->pauses.size(), 1U);
  EXPECT_EQ(v->pauses[0].name, "a.test");
  EXPECT_FALSE(v->pauses[0].site);
  const auto resumed = act([&](auto done) { engine_->resume({false, "a.test"}, done); });
  EXPECT_TRUE(resumed.found);
  EXPECT_EQ(resumed.brought_forward, 1U);
  ASSERT_TRUE(run_until([&] { return delivered("x@a.test"); }, 5s))
      << "the resume did not send the held mail";
  EXPECT_EQ(outcomes_["x@a.test"].size(), 1U) << "the held mail had attempts or events";
  const auto again = act([&](auto done) { engine_->resume({false, "a.test"}, done); });
  EXPECT_FALSE(again.found) << "a resume of nothing paused reported something";
}

// A paused domain is not even looked up: one whose MX lookup fails (here: no such domain) is
// neither deferred nor bounced while paused; once resumed it gets its lookup's verdict.
TEST_F(EngineTest, APausedDomainIsNotLookedUp) {
  start();
  act([&](auto done) { engine_->pause({false, "nx.test"}, 0, done); });
  send("x@nx.test");
  settle();
  Clock::advance(std::chrono::minutes(10));
  settle();
  EXPECT_FALSE(outcomes_.contains("x@nx.test")) << "a paused domain's mail was bounced or deferred";
  EXPECT_EQ(fake_.queries("nx.test", dns::RecordType::kMx), 0) << "a paused domain was looked up";
  act([&](auto done) { engine_->resume({false, "nx.test"}, done); });
  ASSERT_TRUE(run_until([&] { return outcomes_.contains("x@nx.test"); }, 5s));
  EXPECT_EQ(outcomes_["x@nx.test"], std::vector<Outcome::Kind>{Outcome::Kind::kBouncedHard});
}

// A resume gives back the mail the pause held, not the domain's mail deferred before it: that
// keeps its retry time.
TEST_F(EngineTest, AResumeLeavesDeferredMailAlone) {
  TestMx& a = mx();
  a.rcpt_reply = "451 4.2.1 try later\r\n";
  route("a.test", a);
  options_.retry.schedule = {std::chrono::hours(1)};
  start();
  send("x@a.test");
  ASSERT_TRUE(run_until([&] { return deferred("x@a.test"); }, 5s));
  act([&](auto done) { engine_->pause({false, "a.test"}, 0, done); });
  send("y@a.test");
  settle();
  EXPECT_FALSE(outcomes_.contains("y@a.test"));
  const auto r = act([&](auto done) { engine_->resume({false, "a.test"}, done); });
  EXPECT_EQ(r.brought_forward, 1U) << "the resume brought forward more than it held";
  ASSERT_TRUE(run_until([&] { return deferred("y@a.test"); }, 5s));
  settle();
  EXPECT_EQ(outcomes_["x@a.test"].size(), 1U) << "mail deferred before the pause was tried again";
  EXPECT_EQ(a.rcpts.size(), 2U);
}

// A site paused until a time: its mail goes when that time comes, by itself.
TEST_F(EngineTest, ASitePauseEndsAtItsTime) {
  TestMx& a = mx();
  route("a.test", a);
  start();
  const std::string site = "route:127.0.0.1:" + std::to_string(a.port());
  act([&](auto done) { engine_->pause({true, site}, now_ms() + 60'000, done); });
  send("x@a.test");
  settle();
  EXPECT_FALSE(outcomes_.contains("x@a.test")) << "a paused site's mail was tried";
  EXPECT_EQ(view()->pauses.size(), 1U);
  Clock::advance(std::chrono::seconds(61));
  ASSERT_TRUE(run_until([&] { return delivered("x@a.test"); }, 5s))
      << "the mail did not go when the pause ended";
  EXPECT_EQ(a.connections, 1);
}

// A backed-off site shows in the view with its last answer; a retry now ends the back-off and
// sends its deferred mail without waiting for the retry time.
TEST_F(EngineTest, RetryNowEndsABackoff) {
  const std::uint16_t port = refused_port();
  options_.routes.push_back(RouteRule{"a.test", smtp::Route{"127.0.0.1", port}});
  options_.retry.schedule = {std::chrono::hours(1)};
  start();
  send("x@a.test");
  ASSERT_TRUE(run_until([&] { return deferred("x@a.test"); }, 5s));
  TestMx& back = mx(port);
  const auto v = view();
  ASSERT_EQ(v->destinations.size(), 1U);
  const auto& d = v->destinations[0];
  EXPECT_EQ(d.site, "route:127.0.0.1:" + std::to_string(port));
  EXPECT_GT(d.backoff_until_ms, now_ms());
  EXPECT_EQ(d.failures, 1U);
  EXPECT_FALSE(d.last_reply.empty());
  EXPECT_EQ(d.domains, std::vector<std::string>{"a.test"});
  EXPECT_EQ(d.waiting_recipients, 1U);
  ASSERT_EQ(v->waiting.size(), 1U);
  EXPECT_EQ(v->waiting[0].recipients, 1U);
  const auto none = act([&](auto done) { engine_->retry_now({false, "other.test"}, done); });
  EXPECT_FALSE(none.found);
  const auto r = act([&](auto done) { engine_->retry_now({true, d.site}, done); });
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.backoffs_cleared, 1U);
  EXPECT_EQ(r.brought_forward, 1U);
  ASSERT_TRUE(run_until([&] { return delivered("x@a.test"); }, 5s))
      << "the retry now did not send the deferred mail";
  EXPECT_EQ(back.connections, 1);
}

// The engine's threads at once (the ThreadSanitizer case, make test-tsan): several threads put
// jobs to the spool (group commit), submit them and read the engine's counters, and one
// reconfigures the egress, while the engine's io_context runs on the test thread, the spool's
// writer completes updates and erases, and large messages are read back on the worker pool.
TEST_F(EngineTest, SubmitFromManyThreadsWhileDelivering) {
  TestMx& a = mx();
  route("a.test", a);
  start();
  constexpr int kThreads = 3;
  constexpr int kEach = 8;
  std::atomic<int> submitted{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        store::SpoolRecord r;
        r.job_id = new_job_id();
        r.account = "acct";
        r.sender = "s@sender.test";
        r.received_ms = now_ms();
        const std::string rcpt = "t" + std::to_string(t) + "-" + std::to_string(i) + "@a.test";
        r.recipients.push_back(
            store::SpoolRecipient{rcpt, mail_id_of(r.job_id, 0, 0), {}, 0, now_ms()});
        // Every other message is large: it lives in a body segment, and (not handed over at
        // submit) is read back on the worker pool.
        r.message = "Subject: t\r\n\r\n";
        const std::size_t size = i % 2 == 0 ? store::RocksSpool::kBodyMin + 10 : 10;
        while (r.message.size() < size) {
          r.message += std::string(70, 'x') + "\r\n";
        }
        std::promise<Result<void>> put;
        spool_->put(r, [&put](Result<void> ok) { put.set_value(std::move(ok)); });
        if (!put.get_future().get()) {
          ++failures;
          continue;
        }
        if (i % 2 == 0) {
          r.message.clear();
        }
        engine_->submit(r);
        ++submitted;
        (void)engine_->ready_backlog();
        (void)engine_->ready_backlog("acct");
        (void)engine_->ready_queues();
        (void)engine_->queued_jobs();
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 3; ++i) {
      engine_->reconfigure(EgressSettings{options_.sources, options_.pools, options_.routes});
    }
  });
  const bool all = run_until(
      [&] {
        if (submitted.load() + failures.load() < kThreads * kEach) {
          return false;
        }
        for (int t = 0; t < kThreads; ++t) {
          for (int i = 0; i < kEach; ++i) {
            if (!delivered("t" + std::to_string(t) + "-" + std::to_string(i) + "@a.test")) {
              return false;
            }
          }
        }
        return true;
      },
      60s);
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_TRUE(all);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(a.messages, kThreads * kEach);
  // Every job is final: the engine forgets it, and the spool erases it.
  ASSERT_TRUE(run_until([&] { return engine_->queued_jobs() == 0; }, 5s));
}

}  // namespace
}  // namespace txmail::queue
