// EventsFirstSpool: the spool as delivery writes it. What an attempt changes in the spool (a
// recipient's new state: update_recipients; the job leaving it: erase) is written only once
// the events recorded before it, the attempt's outcome, are stored: synced to this node's log,
// and in cluster mode in the region's events stream too (EventLog::after_stored). A node that
// dies in between leaves the spool as it was before the attempt: the job is tried again (after
// the restart, or by the node that takes the spool over) and its events are recorded then, so
// no spool forgets a recipient whose outcome no event holds. The price is that of any crash
// after an attempt: the recipient may get the message twice (at least once).
//
// Writes reach the wrapped spool in the order delivery made them, whatever thread the log
// releases them on. Everything else goes straight to the wrapped spool.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

#include "events/event_log.h"
#include "store/spool.h"

namespace txmail::events {

class EventsFirstSpool final : public store::Spool {
 public:
  EventsFirstSpool(store::Spool& inner, EventLog& log) : inner_(inner), log_(log) {}

  EventsFirstSpool(const EventsFirstSpool&) = delete;
  EventsFirstSpool& operator=(const EventsFirstSpool&) = delete;
  EventsFirstSpool(EventsFirstSpool&&) = delete;
  EventsFirstSpool& operator=(EventsFirstSpool&&) = delete;
  ~EventsFirstSpool() override = default;

  void update_recipients(const std::string& job_id,
                         const std::vector<store::SpoolRecipient>& recipients, Done done) override;
  void erase(const std::string& job_id, Done done) override;

  // Waits (up to `limit`) until every write held back was handed to the wrapped spool; the
  // number still held back when it gave up. At shutdown, before the wrapped spool closes.
  std::size_t flush(std::chrono::milliseconds limit);
  // Writes held back now (waiting for their events to be stored). Any thread.
  std::size_t held();

  void put(const store::SpoolRecord& record, Done done) override {
    inner_.put(record, std::move(done));
  }

  Result<void> admits(const store::SpoolRecord& record) const override {
    return inner_.admits(record);
  }

  std::optional<std::size_t> head_limit() const override { return inner_.head_limit(); }

  Result<std::optional<store::SpoolRecord>> get(const std::string& job_id) override {
    return inner_.get(job_id);
  }

  std::optional<Result<std::optional<store::SpoolRecord>>> get_from_memory(
      const std::string& job_id) override {
    return inner_.get_from_memory(job_id);
  }

  Result<std::size_t> scan(const std::function<bool(store::SpoolRecord&&)>& fn,
                           const std::function<void(const Error&)>& on_corrupt,
                           Messages messages) override {
    return inner_.scan(fn, on_corrupt, messages);
  }

  void queue_size_hint(std::size_t jobs) override { inner_.queue_size_hint(jobs); }

  // The wrapped spool's owner closes it; this only hands on what it holds first.
  void close() override { flush(std::chrono::seconds(30)); }

  bool accepting() const override { return inner_.accepting(); }

  bool may_deliver() const override { return inner_.may_deliver(); }

  bool owns(const std::string& job_id) const override { return inner_.owns(job_id); }

 private:
  struct Held {
    std::function<void()> write;
    bool ready = false;
  };

  void hold(std::function<void()> write);
  void release(std::uint64_t ticket);

  store::Spool& inner_;
  EventLog& log_;
  std::mutex mutex_;
  std::condition_variable drained_;
  std::deque<Held> held_;    // in the order delivery made them; front: ticket first_
  std::uint64_t first_ = 0;  // the ticket of held_.front()
  bool writing_ = false;     // a thread is handing the ready front on (in order)
};

}  // namespace txmail::events
