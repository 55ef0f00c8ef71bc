// For tests: a spool that only records the writes it is given (job id and what), each with
// what `probe` said at that moment, and answers them at once.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "store/spool.h"

namespace txmail::events {

class RecordingSpool final : public store::Spool {
 public:
  struct Write {
    std::string what;  // "erase" or "update"
    std::string job_id;
    std::int64_t probed = 0;
  };

  explicit RecordingSpool(std::function<std::int64_t()> probe = [] { return 0; })
      : probe_(std::move(probe)) {}

  void put(const store::SpoolRecord& /*record*/, Done done) override { done({}); }

  void update_recipients(const std::string& job_id,
                         const std::vector<store::SpoolRecipient>& /*recipients*/,
                         Done done) override {
    note("update", job_id);
    done({});
  }

  void erase(const std::string& job_id, Done done) override {
    note("erase", job_id);
    done({});
  }

  Result<std::optional<store::SpoolRecord>> get(const std::string& /*job_id*/) override {
    return std::nullopt;
  }

  Result<std::size_t> scan(const std::function<bool(store::SpoolRecord&&)>& /*fn*/,
                           const std::function<void(const Error&)>& /*on_corrupt*/,
                           Messages /*messages*/) override {
    return std::size_t{0};
  }

  void close() override {}

  // The writes so far, once there are at least `n` (or after `patience`).
  std::vector<Write> writes(std::size_t n, std::chrono::milliseconds patience) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, patience, [&] { return writes_.size() >= n; });
    return writes_;
  }

 private:
  void note(const std::string& what, const std::string& job_id) {
    const std::int64_t probed = probe_();
    std::lock_guard lock(mutex_);
    writes_.push_back(Write{what, job_id, probed});
    cv_.notify_all();
  }

  std::function<std::int64_t()> probe_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Write> writes_;
};

}  // namespace txmail::events
