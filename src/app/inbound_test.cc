// The inbound handler's complaints (issue bounce-1, item 4): an ARF report about a mail txmail
// sent becomes one COMPLAINED event and a COMPLAINT suppression, found by the envelope's return
// path or, when that was lost, by the report's Original-Mail-From or the original's
// Return-Path; what names no mail of ours is kept, as is what cannot be read. The event log is
// an in-memory one; the suppression list runs on a real SQLite config store in a temp file.
#include "app/inbound.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "api/unsubscribe.h"
#include "common/duration.h"
#include "store/sqlite_config_store.h"
#include "tenancy/recipient_policy.h"

namespace txmail::app {
namespace {

constexpr const char* kDomain = "bounces.txmail.test";
constexpr const char* kMailId = "0190f3c2-5a4b-7c3d-8e9f-0123456789ab#00000000#00000001";

class MemoryEventLog final : public events::EventLog {
 public:
  void append(events::Event event) override {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }

  void append_all(std::vector<events::Event> events, std::function<void()> stored) override {
    for (auto& e : events) {
      append(std::move(e));
    }
    stored();
  }

  // While held, a barrier waits until release().
  void after_stored(std::function<void()> done) override {
    std::unique_lock lock(mutex_);
    if (hold_) {
      held_.push_back(std::move(done));
      return;
    }
    lock.unlock();
    done();
  }

  void hold() {
    std::lock_guard lock(mutex_);
    hold_ = true;
  }

  void release() {
    std::vector<std::function<void()>> held;
    {
      std::lock_guard lock(mutex_);
      hold_ = false;
      held.swap(held_);
    }
    for (auto& done : held) {
      done();
    }
  }

  void append_job(events::JobInfo) override {}

  Result<std::vector<events::Event>> for_job(const std::string&) override { return {}; }

  Result<std::vector<events::Event>> for_mail(const std::string& mail_id) override {
    std::lock_guard lock(mutex_);
    std::vector<events::Event> out;
    for (const auto& e : events_) {
      if (e.mail_id == mail_id) {
        out.push_back(e);
      }
    }
    return out;
  }

  Result<std::vector<events::LoggedEvent>> read_after(std::int64_t, std::size_t) override {
    return std::vector<events::LoggedEvent>{};
  }

  Result<std::int64_t> last_seq() override { return std::int64_t{0}; }

  void close() override {}

  std::vector<events::Event> of_kind(events::Kind kind) {
    std::lock_guard lock(mutex_);
    std::vector<events::Event> out;
    for (const auto& e : events_) {
      if (e.kind == kind) {
        out.push_back(e);
      }
    }
    return out;
  }

 private:
  std::mutex mutex_;
  std::vector<events::Event> events_;
  bool hold_ = false;
  std::vector<std::function<void()>> held_;
};

// An RFC 5965 report (its section 3 layout): the human part, the machine part, the original.
std::string arf(const std::string& original_mail_from, const std::string& original_headers) {
  return "From: <fbl@isp.example>\r\nTo: <fbl@bounces.txmail.test>\r\nSubject: complaint\r\n"
         "MIME-Version: 1.0\r\n"
         "Content-Type: multipart/report; report-type=feedback-report; boundary=\"b1\"\r\n\r\n"
         "--b1\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n"
         "--b1\r\nContent-Type: message/feedback-report\r\n\r\n"
         "Feedback-Type: abuse\r\nUser-Agent: IspFeedback/2.1\r\nVersion: 1\r\n"
         + (original_mail_from.empty() ? ""
                                       : "Original-Mail-From: <" + original_mail_from + ">\r\n")
         + "Reporting-MTA: dns; fbl.isp.example\r\n\r\n"
           "--b1\r\nContent-Type: message/rfc822\r\n\r\n"
         + original_headers + "From: <orders@shop.test>\r\nSubject: Your order\r\n\r\nbody\r\n"
         + "--b1--\r\n";
}

class InboundTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::filesystem::temp_directory_path()
            / ("txmail-inbound-" + std::to_string(::getpid()) + "-"
               + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(base_);
    std::filesystem::create_directories(base_);
    store_ = std::move(*store::SqliteConfigStore::open((base_ / "config.db").string()));
    tenancy::SuppressionSettings settings;
    settings.complaint = std::chrono::hours(24 * 30);
    list_ = std::move(*tenancy::SuppressionList::load(*store_, settings));
    kept_ = std::move(*KeptMessages::open((base_ / "kept").string(), {10, 1 << 20}));
    handler_ = std::make_unique<InboundHandler>(tenancy::ReturnPath(std::string(32, 'k')),
                                                InboundSettings{kDomain, "fbl@bounces.txmail.test"},
                                                log_, *list_, kept_.get());
    events::Event delivered = events::make_event(events::Kind::kDelivered);
    delivered.job_id = std::string(kMailId).substr(0, 36);
    delivered.mail_id = kMailId;
    delivered.account = "shop";
    delivered.recipient = "reader@dest.test";
    delivered.sender = "orders@shop.test";
    log_.append(delivered);
  }

  void TearDown() override {
    handler_.reset();
    list_.reset();
    store_.reset();
    std::filesystem::remove_all(base_);
  }

  std::string return_path() const {
    return *tenancy::ReturnPath(std::string(32, 'k')).local_part(kMailId) + "@" + kDomain;
  }

  std::filesystem::path base_;
  MemoryEventLog log_;
  std::unique_ptr<store::SqliteConfigStore> store_;
  std::unique_ptr<tenancy::SuppressionList> list_;
  std::unique_ptr<KeptMessages> kept_;
  std::unique_ptr<InboundHandler> handler_;
};

TEST_F(InboundTest, AComplaintAtTheReturnPathIsOneEventAndASuppression) {
  ASSERT_TRUE(handler_->accepts(return_path()));
  EXPECT_EQ(handler_->receive(arf("", ""), {return_path()}).code, 250);
  const auto complained = log_.of_kind(events::Kind::kComplained);
  ASSERT_EQ(complained.size(), 1U);
  const events::Event& e = complained.front();
  EXPECT_EQ(e.mail_id, kMailId);
  EXPECT_EQ(e.account, "shop");
  EXPECT_EQ(e.recipient, "reader@dest.test");
  EXPECT_EQ(e.phase() + "/" + e.state() + "/" + e.type() + "/" + e.sub_type(),
            "POST_PROCESS/POST_DELIVERY/COMPLAINED/COMPLAINT");
  EXPECT_EQ(e.description(),
            "fbl.isp.example: feedback report: type=abuse, user-agent=IspFeedback/2.1");
  const auto s = list_->find("shop", "Reader@dest.test", now_ms());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->type, tenancy::SuppressionType::kComplaint);
  EXPECT_EQ(s->source, "complaint");
  EXPECT_EQ(s->ttl_ms, std::chrono::milliseconds(std::chrono::hours(24 * 30)).count());
  EXPECT_FALSE(list_->find("other-account", "reader@dest.test", now_ms()));
  const tenancy::RecipientPolicy policy(list_.get(), nullptr);
  const auto drop = policy.check("shop", "reader@dest.test", now_ms());
  ASSERT_TRUE(drop);
  EXPECT_EQ(drop->reason, tenancy::DropReason::kPreviouslyComplained);
  EXPECT_NE(drop->detail.find("type=abuse"), std::string::npos) << drop->detail;

  // A later bounce of an earlier mail keeps the complaint's entry.
  ASSERT_TRUE(list_->add_bounce("shop", "reader@dest.test", smtp::SuppressionClass::kNoSuchUser,
                                "550 5.1.1 gone", now_ms()));
  EXPECT_EQ(list_->find("shop", "reader@dest.test", now_ms())->type,
            tenancy::SuppressionType::kComplaint);

  // The same report again (feedback loops resend): counted, not a second event.
  EXPECT_EQ(handler_->receive(arf("", ""), {return_path()}).code, 250);
  EXPECT_EQ(log_.of_kind(events::Kind::kComplained).size(), 1U);
  EXPECT_EQ(handler_->stats().complaints, 2U);
  EXPECT_EQ(handler_->stats().complained, 1U);
}

// An RFC 3464 report of a failure with this status for reader@dest.test.
std::string dsn(const std::string& status) {
  return "From: <MAILER-DAEMON@mx.dest.test>\r\nTo: <bounce@bounces.txmail.test>\r\n"
         "Subject: Undelivered Mail\r\nMIME-Version: 1.0\r\n"
         "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b2\"\r\n\r\n"
         "--b2\r\nContent-Type: text/plain\r\n\r\nIt failed.\r\n"
         "--b2\r\nContent-Type: message/delivery-status\r\n\r\n"
         "Reporting-MTA: dns; mx.dest.test\r\n\r\n"
         "Final-Recipient: rfc822; reader@dest.test\r\nAction: failed\r\nStatus: "
         + status + "\r\nDiagnostic-Code: smtp; 550 " + status + " refused\r\n\r\n--b2--\r\n";
}

// A bounce whose status refuses the sender (5.1.7, 5.1.8) is recorded but suppresses nobody;
// 5.1.1 suppresses the recipient.
TEST_F(InboundTest, ABounceOfTheSendersAddressSuppressesNobody) {
  EXPECT_EQ(handler_->receive(dsn("5.1.8"), {return_path()}).code, 250);
  EXPECT_EQ(log_.of_kind(events::Kind::kBouncedHard).size(), 1U);
  EXPECT_FALSE(list_->find("shop", "reader@dest.test", now_ms()));
  EXPECT_EQ(handler_->receive(dsn("5.1.1"), {return_path()}).code, 250);
  const auto s = list_->find("shop", "reader@dest.test", now_ms());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->type, tenancy::SuppressionType::kPreviouslyBounced);
}

TEST_F(InboundTest, ALostReturnPathIsFoundInTheReport) {
  ASSERT_TRUE(handler_->accepts("FBL@bounces.txmail.test"));
  EXPECT_FALSE(handler_->accepts("abuse@bounces.txmail.test"));
  // By Original-Mail-From.
  handler_->receive(arf(return_path(), ""), {"fbl@bounces.txmail.test"});
  EXPECT_EQ(log_.of_kind(events::Kind::kComplained).size(), 1U);
}

TEST_F(InboundTest, ALostReturnPathIsFoundInTheOriginalsReturnPath) {
  handler_->receive(arf("", "Return-Path: <" + return_path() + ">\r\n"),
                    {"fbl@bounces.txmail.test"});
  EXPECT_EQ(log_.of_kind(events::Kind::kComplained).size(), 1U);
}

TEST_F(InboundTest, AComplaintNamingNoMailOfOursIsKeptNotRecorded) {
  std::string forged = return_path();
  forged[5] = forged[5] == 'a' ? 'b' : 'a';
  handler_->receive(arf(forged, ""), {"fbl@bounces.txmail.test"});
  EXPECT_TRUE(log_.of_kind(events::Kind::kComplained).empty());
  EXPECT_FALSE(list_->find("shop", "reader@dest.test", now_ms()));
  EXPECT_EQ(handler_->stats().unknown_mail, 1U);
  EXPECT_EQ(handler_->stats().kept, 1U);
}

TEST_F(InboundTest, AnUnreadableMessageIsKeptAndCounted) {
  const std::string text = "Subject: hello\r\n\r\nnot a report at all\r\n";
  handler_->receive(text, {return_path()});
  const InboundStats s = handler_->stats();
  EXPECT_EQ(s.unreadable, 1U);
  EXPECT_EQ(s.kept, 1U);
  EXPECT_EQ(s.kept_bytes, text.size());
  const auto kept = list_kept((base_ / "kept").string());
  ASSERT_EQ(kept->size(), 1U);
  EXPECT_EQ(*read_kept((base_ / "kept").string(), kept->front().id), text);
}

// One-click unsubscribe (issue bounce-1, item 5): GET /u/<token> changes nothing; POST records
// one UNSUBSCRIBED event and an UNSUBSCRIBED suppression for the account, once; a message to
// the mailto address does the same; forged tokens, and return paths, are nothing.
TEST_F(InboundTest, Unsubscribes) {
  api::Unsubscribes unsubscribes(tenancy::ReturnPath(std::string(32, 'u'), 'u'),
                                 "https://mail.txmail.test", kDomain, log_, *list_);
  handler_->unsubscribe_with(&unsubscribes);
  const auto links = unsubscribes.links(kMailId);
  ASSERT_TRUE(links);
  const std::string prefix = "https://mail.txmail.test/u/";
  ASSERT_TRUE(links->https.starts_with(prefix)) << links->https;
  const std::string token = links->https.substr(prefix.size());
  EXPECT_EQ(links->mailto, "mailto:u-" + token + "@" + kDomain + "?subject=unsubscribe");

  api::Request get;
  get.method = "GET";
  get.path = "/u/" + token;
  EXPECT_EQ(unsubscribes.handle(get, token).status, 200);
  std::string altered = token;
  altered[3] = altered[3] == 'a' ? 'b' : 'a';
  EXPECT_EQ(unsubscribes.handle(get, altered).status, 404);
  api::Request post = get;
  post.method = "POST";
  post.body = "List-Unsubscribe=One-Click";
  EXPECT_EQ(unsubscribes.handle(post, altered).status, 404);
  EXPECT_EQ(unsubscribes.handle(post, return_path().substr(2, token.size())).status, 404);
  EXPECT_TRUE(log_.of_kind(events::Kind::kUnsubscribed).empty());
  EXPECT_FALSE(list_->find("shop", "reader@dest.test", now_ms()));

  api::Request empty = post;
  empty.body = "";
  EXPECT_EQ(unsubscribes.handle(empty, token).status, 400);
  EXPECT_EQ(unsubscribes.handle(post, token).status, 200);
  EXPECT_EQ(unsubscribes.handle(post, token).status, 200);
  // The mailto: accepted, recorded nowhere twice.
  const std::string address = "u-" + token + "@" + kDomain;
  EXPECT_TRUE(handler_->accepts(address));
  EXPECT_FALSE(handler_->accepts("u-" + altered + "@" + kDomain));
  EXPECT_FALSE(handler_->accepts("u-" + token + "@elsewhere.test"));
  EXPECT_EQ(handler_->receive("Subject: unsubscribe\r\n\r\nplease\r\n", {address}).code, 250);

  const auto got = log_.of_kind(events::Kind::kUnsubscribed);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].recipient, "reader@dest.test");
  EXPECT_EQ(got[0].account, "shop");
  EXPECT_EQ(got[0].phase() + "/" + got[0].state() + "/" + got[0].type() + "/" + got[0].sub_type(),
            "POST_PROCESS/POST_DELIVERY/UNSUBSCRIBED/UNSUBSCRIBE");
  const auto s = list_->find("shop", "reader@dest.test", now_ms());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->type, tenancy::SuppressionType::kUnsubscribed);
  EXPECT_EQ(s->source, "unsubscribe");
  EXPECT_FALSE(list_->find("other", "reader@dest.test", now_ms()));
  const tenancy::RecipientPolicy policy(list_.get(), nullptr);
  const auto drop = policy.check("shop", "reader@dest.test", now_ms());
  ASSERT_TRUE(drop);
  EXPECT_EQ(drop->reason, tenancy::DropReason::kPreviouslyUnsubscribed);
}

// A one-click POST is answered once the UNSUBSCRIBED event is stored (in cluster mode: in the
// region's stream), never while it is only in memory; a GET, which records nothing, at once.
TEST_F(InboundTest, AnUnsubscribeIsAnsweredOnceItsEventIsStored) {
  api::Unsubscribes unsubscribes(tenancy::ReturnPath(std::string(32, 'u'), 'u'),
                                 "https://mail.txmail.test", kDomain, log_, *list_);
  const std::string prefix = "https://mail.txmail.test/u/";
  const std::string token = unsubscribes.links(kMailId)->https.substr(prefix.size());
  api::Request get;
  get.method = "GET";
  get.path = "/u/" + token;
  api::Request post = get;
  post.method = "POST";
  post.body = "List-Unsubscribe=One-Click";

  log_.hold();
  int got_get = 0;
  unsubscribes.respond(get, token, [&got_get](const api::Response& r) { got_get = r.status; });
  EXPECT_EQ(got_get, 200);
  int got_post = 0;
  unsubscribes.respond(post, token, [&got_post](const api::Response& r) { got_post = r.status; });
  EXPECT_EQ(log_.of_kind(events::Kind::kUnsubscribed).size(), 1U);
  EXPECT_EQ(got_post, 0) << "answered before the event was stored";
  log_.release();
  EXPECT_EQ(got_post, 200);
}

}  // namespace
}  // namespace txmail::app
