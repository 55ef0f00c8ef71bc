// PublishTracker: what the replicated spool has sent to JetStream and not yet seen stored
// (issue site-2). Pure and single-threaded (the owner locks): time comes in as arguments.
//
// A *group* is what one caller waits for (a job's chunks and record; a recipient state). It
// succeeds once every part is acknowledged, with the stream sequence of each part, and fails
// when one part meets a permanent error or when the group's deadline passes. A part whose
// publish timed out, or found no responders (an election, a server restarting: NATS.md
// section 4), is sent again with the same Nats-Msg-Id after a backoff that doubles up to a
// maximum, so the stream stores it once even if the lost acknowledgement hid a stored copy.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace txmail::cluster {

class PublishTracker {
 public:
  using Time = Clock::time_point;

  struct Part {
    std::string subject;
    std::string msg_id;
    std::string payload;
    std::vector<std::pair<std::string, std::string>> headers;
  };

  using PartPtr = std::shared_ptr<const Part>;
  // The stream sequence of each part, in the order given to add().
  using Done = std::function<void(Result<std::vector<std::uint64_t>>)>;
  using Completion = std::pair<Done, Result<std::vector<std::uint64_t>>>;

  struct Backoff {
    std::chrono::milliseconds first{200};
    std::chrono::milliseconds max{2000};
  };

  explicit PublishTracker(Backoff backoff) : backoff_(backoff) {}

  PublishTracker() : PublishTracker(Backoff{}) {}

  // A new group, due at once. kConflict when a part's Msg-Id is already pending (that state
  // is on its way already); nothing is added then.
  Result<void> add(std::vector<Part> parts, Time deadline, Done done);

  // The parts to send now: new ones and resends whose backoff has passed. They count as in
  // flight until on_ack() or on_error() names them.
  std::vector<PartPtr> due(Time now);

  enum class Failure : std::uint8_t {
    kTransient,  // timeout, no responders, disconnected: send again later
    kPermanent,  // the stream refused it (full, too large, wrong stream): the group fails
  };

  // A duplicate acknowledgement is a success: the part is stored. Unknown ids are ignored (a
  // part of a group that already failed or expired).
  void on_ack(const std::string& msg_id, std::uint64_t sequence);
  void on_error(const std::string& msg_id, Failure failure, const std::string& why, Time now);
  // Fails every group whose deadline has passed (kUnavailable, with the last error seen).
  void expire(Time now);

  // What finished since the last call; the owner runs them outside its lock.
  std::vector<Completion> take_completed();

  // When due() or expire() next has work; nullopt when nothing is pending.
  std::optional<Time> next_wake() const;

  std::size_t groups() const { return groups_.size(); }

  std::size_t bytes() const { return bytes_; }

  std::uint64_t resends() const { return resends_; }

 private:
  struct PartState {
    PartPtr part;
    std::uint64_t group = 0;
    std::size_t index = 0;
    bool in_flight = false;
    Time next_send{};
    std::chrono::milliseconds backoff{0};
  };

  struct Group {
    Done done;
    Time deadline{};
    std::vector<std::string> ids;
    std::vector<std::uint64_t> sequences;
    std::size_t stored = 0;
    std::string last_error;
  };

  void finish(std::uint64_t group, Result<std::vector<std::uint64_t>> result);

  Backoff backoff_;
  std::uint64_t next_group_ = 1;
  std::map<std::uint64_t, Group> groups_;
  std::multimap<Time, std::uint64_t> deadlines_;  // of the pending groups
  std::vector<std::string> ready_;                // to send at once (ids; stale ones skipped)
  std::multimap<Time, std::string> resend_;       // to send again at that time
  std::unordered_map<std::string, PartState> parts_;
  std::vector<Completion> completed_;
  std::size_t bytes_ = 0;
  std::uint64_t resends_ = 0;
};

}  // namespace txmail::cluster
