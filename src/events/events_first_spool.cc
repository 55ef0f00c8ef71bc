#include "events/events_first_spool.h"

#include <utility>
#include <vector>

namespace txmail::events {

void EventsFirstSpool::update_recipients(const std::string& job_id,
                                         const std::vector<store::SpoolRecipient>& recipients,
                                         Done done) {
  hold([this, job_id, recipients, done = std::move(done)]() mutable {
    inner_.update_recipients(job_id, recipients, std::move(done));
  });
}

void EventsFirstSpool::erase(const std::string& job_id, Done done) {
  hold([this, job_id, done = std::move(done)]() mutable { inner_.erase(job_id, std::move(done)); });
}

void EventsFirstSpool::hold(std::function<void()> write) {
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(mutex_);
    ticket = first_ + held_.size();
    held_.push_back(Held{std::move(write), false});
  }
  // Every event recorded before this write was queued before this barrier.
  log_.after_stored([this, ticket] { release(ticket); });
}

void EventsFirstSpool::release(std::uint64_t ticket) {
  std::unique_lock lock(mutex_);
  held_[ticket - first_].ready = true;
  if (writing_) {
    return;  // the thread writing hands this one on too, in its turn
  }
  writing_ = true;
  std::vector<std::function<void()>> writes;
  while (!held_.empty() && held_.front().ready) {
    while (!held_.empty() && held_.front().ready) {
      writes.push_back(std::move(held_.front().write));
      held_.pop_front();
      ++first_;
    }
    lock.unlock();
    for (auto& w : writes) {
      w();  // queued by the wrapped spool, never waits for its disk
    }
    writes.clear();
    lock.lock();
  }
  writing_ = false;
  drained_.notify_all();
}

std::size_t EventsFirstSpool::flush(std::chrono::milliseconds limit) {
  std::unique_lock lock(mutex_);
  drained_.wait_for(lock, limit, [this] { return held_.empty() && !writing_; });
  return held_.size();
}

std::size_t EventsFirstSpool::held() {
  std::lock_guard lock(mutex_);
  return held_.size();
}

}  // namespace txmail::events
