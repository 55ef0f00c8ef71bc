// The delivery engine's test fixture (delivery_engine_test.cc, queue_control_test.cc): minimal
// SMTP servers on loopback, a RocksSpool in a temporary directory, txmail's clock moved by the
// test.
#pragma once
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
#include "queue/delivery_engine.h"
#include "store/rocks_spool.h"

namespace txmail::queue::engine_test {

using std::chrono_literals::operator""s;
using std::chrono_literals::operator""ms;

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
    // Long enough that a stalled test process (sanitizers, a loaded machine) times nothing out.
    options_.client.connect_timeout = 60s;
    options_.client.greeting_timeout = 60s;
    options_.client.command_timeout = 60s;
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

  void send(const std::string& recipient) { send(std::vector<std::string>{recipient}); }

  // One job to these recipients.
  void send(const std::vector<std::string>& recipients) {
    store::SpoolRecord r;
    r.job_id = new_job_id();
    r.account = "acct";
    r.sender = "s@sender.test";
    r.received_ms = now_ms();
    for (std::uint32_t i = 0; i < recipients.size(); ++i) {
      r.recipients.push_back(
          store::SpoolRecipient{recipients[i], mail_id_of(r.job_id, 0, i), {}, 0, now_ms()});
    }
    r.message = "Subject: t\r\n\r\nhello\r\n";
    bool stored = false;
    spool_->put(r, [&](const Result<void>& ok) {
      ASSERT_TRUE(ok.has_value());
      asio::post(io_, [&] { stored = true; });
    });
    ASSERT_TRUE(run_until([&] { return stored; }, 60s));
    engine_->submit(r);
  }

  // The one job in the spool, now another node's: the engine no longer owns it.
  std::string take_over_the_job() {
    std::string job;
    (void)spool_->scan(
        [&](store::SpoolRecord&& r) {
          job = r.job_id;
          return false;
        },
        [](const Error&) {}, store::Spool::Messages::kEnvelopes);
    std::lock_guard lock(gate_->mutex);
    gate_->taken.insert(job);
    return job;
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
    run_until([&] { return result.has_value(); }, 60s);
    return result.value_or(QueueActionResult{});
  }

  std::shared_ptr<const QueueView> view() {
    std::shared_ptr<const QueueView> v;
    engine_->view([&v](std::shared_ptr<const QueueView> got) { v = std::move(got); });
    run_until([&] { return v != nullptr; }, 60s);
    EXPECT_NE(v, nullptr) << "the view did not answer, or answered nothing";
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

}  // namespace txmail::queue::engine_test
