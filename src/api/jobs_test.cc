#include "api/jobs.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <map>
#include <mutex>

#include "api/idempotency.h"
#include "events/sqlite_event_log.h"
#include "store/spool.h"
#include "store/sqlite_config_store.h"
#include "tenancy/account.h"
#include "tenancy/account_directory.h"

namespace txmail::api {
namespace {

// A spool that stores records in memory and, when asked, refuses every put but the first (a
// block whose write fails: a disk error, a region that stopped answering).
class FlakySpool final : public store::Spool {
 public:
  bool refuse_all_but_first = false;

  void put(const store::SpoolRecord& record, Done done) override {
    bool refused = false;
    {
      const std::lock_guard lock(mutex_);
      refused = refuse_all_but_first && !records_.empty();
      if (!refused) {
        records_[record.job_id] = record;
      }
    }
    if (refused) {
      done(make_error(ErrorCode::kIo, "the disk refused the write"));
      return;
    }
    done({});
  }

  void update_recipients(const std::string& /*job_id*/,
                         const std::vector<store::SpoolRecipient>& /*recipients*/,
                         Done done) override {
    done({});
  }

  void erase(const std::string& job_id, Done done) override {
    {
      const std::lock_guard lock(mutex_);
      records_.erase(job_id);
    }
    done({});
  }

  Result<std::optional<store::SpoolRecord>> get(const std::string& job_id) override {
    const std::lock_guard lock(mutex_);
    auto it = records_.find(job_id);
    if (it == records_.end()) {
      return std::optional<store::SpoolRecord>();
    }
    return std::optional<store::SpoolRecord>(it->second);
  }

  Result<std::size_t> scan(const std::function<bool(store::SpoolRecord&&)>& /*fn*/,
                           const std::function<void(const Error&)>& /*on_corrupt*/,
                           Messages /*messages*/) override {
    return std::size_t{0};
  }

  void close() override {}

  std::size_t size() {
    const std::lock_guard lock(mutex_);
    return records_.size();
  }

 private:
  std::mutex mutex_;
  std::map<std::string, store::SpoolRecord> records_;
};

class JobsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path()
           / ("txmail-jobs-" + std::to_string(::getpid()) + "-"
              + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto config = store::SqliteConfigStore::open((dir_ / "config.db").string());
    ASSERT_TRUE(config);
    config_ = std::move(*config);
    tenancy::Account a;
    a.name = "acme";
    a.password_hash = "x";
    a.allow_unverified_domains = true;
    ASSERT_TRUE(
        config_->put(tenancy::account_key("acme"), tenancy::to_json(a), store::Expect::any()));
    auto accounts = tenancy::AccountDirectory::load(*config_);
    ASSERT_TRUE(accounts);
    accounts_ = std::move(*accounts);
    auto log = events::SqliteEventLog::open((dir_ / "events.db").string(),
                                            events::SqliteEventLog::Mode::kReadWrite);
    ASSERT_TRUE(log);
    log_ = std::move(*log);
    auto idem = IdempotencyStore::open((dir_ / "idempotency.db").string());
    ASSERT_TRUE(idem);
    idempotency_ = std::move(*idem);
    api_ = make_jobs_api(JobsDeps{.accounts = *accounts_,
                                  .keyring = nullptr,
                                  .spool = spool_,
                                  .events = *log_,
                                  .idempotency = *idempotency_,
                                  .on_spooled = [this](store::SpoolRecord&) { ++handed_on_; },
                                  .hostname = "node.test",
                                  .limits = {},
                                  .seal =
                                      [](const std::string& plain, const std::string&) {
                                        return plain;
                                      }});
  }

  void TearDown() override {
    api_.reset();
    idempotency_.reset();
    log_->close();
    log_.reset();
    accounts_.reset();
    config_.reset();
    std::filesystem::remove_all(dir_);
  }

  Response post(const std::string& body, const std::string& key) {
    Request r;
    r.method = "POST";
    r.path = "/v2/jobs";
    r.body = body;
    r.account = "acme";
    r.headers = {{"content-type", "application/json"}, {"idempotency-key", key}};
    std::promise<Response> answer;
    api_->submit(std::move(r), [&answer](Response res) { answer.set_value(std::move(res)); });
    return answer.get_future().get();
  }

  static std::string two_blocks() {
    return R"({"subject": "s", "body": {"contentType": "text/plain", "content": "x"},
               "mail": {"from": {"email": "a@sender.test"}},
               "recipients": [{"mail": {"to": [{"email": "b@dest.test"}]}},
                              {"mail": {"to": [{"email": "c@dest.test"}]}},
                              {"mail": {"to": [{"email": "d@dest.test"}]}}]})";
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::SqliteConfigStore> config_;
  std::unique_ptr<tenancy::AccountDirectory> accounts_;
  std::unique_ptr<events::SqliteEventLog> log_;
  std::unique_ptr<IdempotencyStore> idempotency_;
  FlakySpool spool_;
  int handed_on_ = 0;
  std::unique_ptr<JobsApi> api_;
};

// A job of three blocks whose second and third cannot be stored: 503, and the first block,
// which was stored, leaves the spool again: the client's retry (a new job) must be the only
// one that sends it.
TEST_F(JobsApiTest, AJobNotStoredWholeLeavesNothingInTheSpool) {
  spool_.refuse_all_but_first = true;
  Response refused = post(two_blocks(), "k1");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(spool_.size(), 0U);
  EXPECT_EQ(handed_on_, 0);

  spool_.refuse_all_but_first = false;
  Response accepted = post(two_blocks(), "k1");
  EXPECT_EQ(accepted.status, 202) << accepted.body;
  EXPECT_EQ(spool_.size(), 3U);
  EXPECT_EQ(handed_on_, 3);
}

}  // namespace
}  // namespace txmail::api
