// NatsConnection: one connection to the region's NATS servers and its JetStream contexts. The
// only place that sets connection options; internal to the cluster module (nothing outside
// src/cluster includes <nats/nats.h>).
//
// The connection retries for ever, in the order given (the node's own site first), and keeps
// no reconnect buffer: a write attempted while the connection is down fails at once instead of
// being replayed minutes later, after the caller was told it failed.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace txmail::cluster {

struct NatsOptions {
  std::vector<std::string> servers;  // nats://HOST:PORT, the node's own site first
  std::string user;
  std::string password;
  std::string creds_file;   // a NATS credentials file (JWT + NKey seed)
  std::string ca_file;      // TLS to NATS, trusting this CA
  std::string name;         // the client name servers show (the node's name)
  std::string home_domain;  // JetStream domain where configuration is written; "" = this one
  std::chrono::milliseconds timeout = std::chrono::seconds(5);  // each JetStream request
};

// One message the library handed over (natsMsg_Create, js_GetLastMsg, NextMsg, ...), destroyed
// with this; the calls fill `msg`.
struct NatsMsg {
  natsMsg* msg = nullptr;

  NatsMsg() = default;

  ~NatsMsg() { natsMsg_Destroy(msg); }

  NatsMsg(const NatsMsg&) = delete;
  NatsMsg& operator=(const NatsMsg&) = delete;
  NatsMsg(NatsMsg&&) = delete;
  NatsMsg& operator=(NatsMsg&&) = delete;

  std::string_view data() const {
    return {natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))};
  }

  // The header's value; "" when the message has none.
  std::string header(const char* name) const {
    const char* v = nullptr;
    return natsMsgHeader_Get(msg, name, &v) == NATS_OK && v != nullptr ? std::string(v)
                                                                       : std::string();
  }
};

// An error from the NATS library: its status text and the thread's last error detail.
Error nats_error(natsStatus s, const std::string& what);
// True for the failures that mean "no answer now" (not connected, no responders, timeout).
bool nats_unreachable(natsStatus s);

// Ordered consumers (key-value watchers, the events importer's subscription) given up while
// the connection lives (after a reconnection, or an error), destroyed only kSettle later.
// Destroying one races in nats.c 3.4.1 with the library's own re-creation of its ordered
// consumer after a reconnection or a missed heartbeat: jsSub_deleteConsumer formats the old
// consumer's name, which the re-creating thread frees (heap-use-after-free under
// AddressSanitizer, CI, after a server restart; a SEGV in natsConn_processMsg after a node was
// stopped with SIGSTOP and went on). One still buried when the process stops is left to the
// connection's close. One thread's (the watch's, the importer's).
template <typename T, void (*Destroy)(T*)>
class Retired {
 public:
  static constexpr std::chrono::seconds kSettle{30};

  Retired() = default;
  ~Retired() = default;  // the connection's close ends what is left
  Retired(const Retired&) = delete;
  Retired& operator=(const Retired&) = delete;
  Retired(Retired&&) = delete;
  Retired& operator=(Retired&&) = delete;

  void retire(T* t) { retired_.emplace_back(t, Clock::now()); }

  // Destroys those retired kSettle ago or more.
  void sweep() {
    const auto now = Clock::now();
    std::erase_if(retired_, [now](const auto& r) {
      if (now - r.second < kSettle) {
        return false;
      }
      Destroy(r.first);
      return true;
    });
  }

 private:
  std::vector<std::pair<T*, Clock::time_point>> retired_;
};

using RetiredWatchers = Retired<kvWatcher, &kvWatcher_Destroy>;
using RetiredSubscriptions = Retired<natsSubscription, &natsSubscription_Destroy>;

class NatsConnection {
 public:
  // With `wait_for_server` false, a first connect that fails is an error (administration
  // commands); with true, the connection keeps trying in the background (a serving node).
  static Result<std::unique_ptr<NatsConnection>> open(const NatsOptions& options,
                                                      bool wait_for_server);
  ~NatsConnection();
  NatsConnection(const NatsConnection&) = delete;
  NatsConnection& operator=(const NatsConnection&) = delete;
  NatsConnection(NatsConnection&&) = delete;
  NatsConnection& operator=(NatsConnection&&) = delete;

  bool connected() const;

  // Bumped at every (re)connection: watchers compare it to know they must start over.
  std::uint64_t generation() const { return events_->generation.load(); }

  std::string connected_url() const;
  std::string connected_server() const;  // the server's id

  const NatsOptions& options() const { return options_; }

  natsConnection* raw() { return nc_; }

  jsCtx* js() { return js_; }  // this region's JetStream

  jsCtx* home_js() { return home_; }  // the home domain's (the same context without one)

 private:
  explicit NatsConnection(NatsOptions options) : options_(std::move(options)) {}

  static void on_connected(natsConnection* nc, void* events);
  static void on_disconnected(natsConnection* nc, void* events);

  NatsOptions options_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  jsCtx* home_ = nullptr;

  // What the library's callback thread touches. It may call back after Close() returns (seen
  // under AddressSanitizer), so this outlives the connection: the closed callback, the last
  // one, frees it.
  struct Events {
    std::atomic<std::uint64_t> generation{0};
    std::atomic<bool> closing{false};
  };

  static void on_closed(natsConnection* nc, void* events);
  Events* events_ = new Events;
};

}  // namespace txmail::cluster
