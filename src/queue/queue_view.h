// What the operator sees of a node's delivery queues and what it may do to them (issue
// console-1: the console's queues page, GET /v2/admin/queues, `txmail queue`). A view is a copy
// taken on the engine's thread; the actions run there too.
//
// Pause: a destination site (its set of MX hosts, as the view names it) or a recipient domain
// is paused until resumed or until a given time. A paused unit is not tried and gets no event:
// it is held by the pause (out of the schedule: no routing, no DNS lookup) and its recipients
// keep their attempt counts; when the pause ends its units are due at once. A unit of a paused
// domain is held before its MX lookup, one of a paused site after it (or, when the lookup
// fails, if the site held its domain before). Units already in a ready queue are held too; a
// connection finishes the transaction it is in. A pause lives in the node's memory only: it
// ends with the process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace txmail::queue {

struct QueueView {
  // A ready queue: units routed to one destination site from one egress source.
  struct Destination {
    std::string source;
    std::string site;
    std::vector<std::string> domains;  // recipient domains routed here lately (at most 8)
    std::size_t units = 0;             // transactions waiting for a connection
    std::size_t recipients = 0;
    // Recipients of its domains waiting in the schedule (deferred, or held by a pause).
    std::size_t waiting_recipients = 0;
    std::size_t connections = 0;
    std::int64_t oldest_ms = 0;         // acceptance of the oldest job waiting here; 0: none
    std::int64_t backoff_until_ms = 0;  // 0: not backed off
    std::uint32_t failures = 0;         // site-wide deferrals in a row
    std::string last_reply;             // the answer that backed it off
    bool paused = false;
  };

  // Recipients waiting for their next attempt (deferred, or not yet routed) or held by a
  // pause, by recipient domain.
  struct Waiting {
    std::string domain;
    std::size_t recipients = 0;
    std::size_t held = 0;              // of them, held by a pause (of the domain or its site)
    std::int64_t next_attempt_ms = 0;  // the earliest of those not held; 0: none
    std::int64_t oldest_ms = 0;        // acceptance of the oldest job
    bool paused = false;               // the domain is paused (a site pause shows on the site)
  };

  struct Pause {
    bool site = false;  // else a domain
    std::string name;
    std::int64_t since_ms = 0;
    std::int64_t until_ms = 0;  // 0: until resumed
  };

  static constexpr std::size_t kMaxDestinations = 500;
  static constexpr std::size_t kMaxWaiting = 200;

  std::int64_t taken_ms = 0;
  std::size_t jobs = 0;
  std::int64_t oldest_ms = 0;  // acceptance of the oldest queued job; 0: the queue is empty
  std::size_t waiting_recipients = 0;
  std::size_t ready_recipients = 0;
  std::size_t connections = 0;
  std::vector<Destination> destinations;  // most recipients first
  bool destinations_truncated = false;
  std::vector<Waiting> waiting;  // most recipients first
  bool waiting_truncated = false;
  std::vector<Pause> pauses;
  // While the view is taken: waiting recipients by domain, every domain told apart.
  std::unordered_map<std::string, std::size_t> waiting_by_domain;
};

// What a pause, resume or retry names: a destination site or a recipient domain (A-label).
struct QueueSelector {
  bool site = false;
  std::string name;
};

struct QueueActionResult {
  bool found = false;                // something was paused, queued or backed off under the name
  std::size_t brought_forward = 0;   // units whose next attempt is now
  std::size_t backoffs_cleared = 0;  // ready queues whose back-off ended
  std::size_t held = 0;              // units taken out of ready queues by a pause
};

}  // namespace txmail::queue
