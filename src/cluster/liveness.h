// Who in the region is alive, judged by this node alone (issue site-2; NATS.md section 3).
// Pure: time comes in as arguments, on this node's steady clock.
//
// A node heartbeats by rewriting its key in the nodes bucket; every rewrite bumps the key's
// revision. TTL expiry is silent in nats-server 2.9 (no event, no delete marker), so death is
// judged by age: a node is dead once its revision has not changed for `timeout`. Another
// node's timestamp is never compared with this node's clock. Time during which this node's
// own heartbeats were not stored is no evidence: while the region does not answer, it is this
// node that may be cut off, so nobody is judged dead until its own beats have been stored for
// `timeout` again.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace txmail::cluster {

class LivenessTable {
 public:
  using Time = Clock::time_point;

  // `start`: when this node began watching (a node never seen counts from then).
  explicit LivenessTable(Time start) : start_(start) {}

  // A heartbeat entry seen at `revision` (the watch, or a snapshot at start).
  void observe(const std::string& node, std::uint64_t revision, Time now);
  // This node's own heartbeat, stored or not.
  void own_beat(bool stored, Time now);

  bool dead(const std::string& node, Time now, Clock::duration timeout) const;
  // Nodes whose heartbeat changed within `timeout` (this node among them while it beats).
  std::vector<std::string> alive(Time now, Clock::duration timeout) const;

 private:
  struct Seen {
    std::uint64_t revision = 0;
    Time changed{};
  };

  Time start_;
  std::map<std::string, Seen> seen_;
  std::optional<Time> own_ok_since_;  // the start of the current run of stored beats
};

// The order in which live nodes should try to take over `dead`'s spool: the nodes of the dead
// node's site first, then the others; within each, an order that depends on the dead node's
// name, so that several dead nodes spread over the candidates. `live` holds (node, site).
std::vector<std::string> takeover_order(const std::string& dead, const std::string& dead_site,
                                        std::vector<std::pair<std::string, std::string>> live);

}  // namespace txmail::cluster
