// The operator's hand on the queues (queue_view.h): pauses, resumes and retries now, on the
// engine's test fixture.
#include "queue/engine_test_fixture.h"

namespace txmail::queue::engine_test {
namespace {

using namespace std::chrono_literals;

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
  ASSERT_TRUE(run_until([&] { return delivered("y@b.test"); }, 60s));
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
  ASSERT_TRUE(run_until([&] { return delivered("x@a.test"); }, 60s))
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
  ASSERT_TRUE(run_until([&] { return outcomes_.contains("x@nx.test"); }, 60s));
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
  ASSERT_TRUE(run_until([&] { return deferred("x@a.test"); }, 60s));
  act([&](auto done) { engine_->pause({false, "a.test"}, 0, done); });
  send("y@a.test");
  settle();
  EXPECT_FALSE(outcomes_.contains("y@a.test"));
  const auto r = act([&](auto done) { engine_->resume({false, "a.test"}, done); });
  EXPECT_EQ(r.brought_forward, 1U) << "the resume brought forward more than it held";
  ASSERT_TRUE(run_until([&] { return deferred("y@a.test"); }, 60s));
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
  ASSERT_TRUE(run_until([&] { return delivered("x@a.test"); }, 60s))
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
  ASSERT_TRUE(run_until([&] { return deferred("x@a.test"); }, 60s));
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
  ASSERT_TRUE(run_until([&] { return delivered("x@a.test"); }, 60s))
      << "the retry now did not send the deferred mail";
  EXPECT_EQ(back.connections, 1);
}

// A resolver whose every lookup waits until released, then fails for now.
class StalledResolver : public dns::Resolver {
 public:
  explicit StalledResolver(asio::io_context& io) : timer_(io) {
    timer_.expires_at(asio::steady_timer::time_point::max());
  }

  awaitable<Result<dns::Answer>> query(std::string /*name*/, dns::RecordType /*type*/) override {
    ++queries;
    co_await timer_.async_wait(use_tuple);
    co_return make_error(ErrorCode::kDnsTemporary, "the lookup timed out");
  }

  void release() { timer_.cancel(); }

  int queries = 0;

 private:
  asio::steady_timer timer_;
};

// A domain paused while its MX lookup is under way: the lookup's failure neither defers it
// nor counts an attempt; it is held, and goes once resumed.
TEST_F(EngineTest, ADomainPausedDuringItsLookupIsHeld) {
  StalledResolver dns(io_);
  start(&dns);
  send("x@a.test");
  ASSERT_TRUE(run_until([&] { return dns.queries > 0; }, 60s));
  act([&](auto done) { engine_->pause({false, "a.test"}, 0, done); });
  dns.release();
  settle();
  EXPECT_FALSE(outcomes_.contains("x@a.test")) << "a domain paused during its lookup was deferred";
  const auto v = view();
  ASSERT_EQ(v->waiting.size(), 1U);
  EXPECT_EQ(v->waiting[0].held, 1U);
}

// A view whose walk of the schedule (more than one slice) an action overtook still answers its
// callers with what it counted; it is only not kept for later ones.
TEST_F(EngineTest, AViewThatAnActionOvertookStillAnswers) {
  store::SpoolRecord r;
  r.job_id = new_job_id();
  r.account = "acct";
  r.sender = "s@sender.test";
  r.received_ms = now_ms();
  r.message = "Subject: t\r\n\r\nhello\r\n";
  constexpr std::uint32_t kDomains = 25'000;  // more than the view's slice of 20,000 units
  for (std::uint32_t i = 0; i < kDomains; ++i) {
    r.recipients.push_back(
        store::SpoolRecipient{"x@d" + std::to_string(i) + ".test", mail_id_of(r.job_id, 0, i),
                              store::RecipientStatus::kQueued, 1, now_ms() + 3'600'000});
  }
  put(r);
  start(nullptr, true);
  std::shared_ptr<const QueueView> seen;
  bool answered = false;
  engine_->view([&](std::shared_ptr<const QueueView> v) {
    seen = std::move(v);
    answered = true;
  });
  // Runs between the view's first slice and its second.
  std::optional<QueueActionResult> paused;
  engine_->pause({false, "d1.test"}, 0, [&](QueueActionResult res) { paused = res; });
  ASSERT_TRUE(run_until([&] { return answered && paused.has_value(); }, 60s));
  ASSERT_NE(seen, nullptr) << "the view answered nothing";
  EXPECT_EQ(seen->waiting_recipients, kDomains);
  const auto again = view();
  EXPECT_EQ(again->waiting_recipients, kDomains);
  EXPECT_EQ(again->pauses.size(), 1U);
}

}  // namespace
}  // namespace txmail::queue::engine_test
