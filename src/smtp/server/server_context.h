// What every SMTP session shares: options, TLS, the spool, accounts, limits, the worker pool.
// Made by the composition root (app/serve.cc), which passes in what belongs to layers above
// (accounts, the authentication failure limiter it shares with the HTTP API); sessions hold a
// reference and never outlive it.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "common/histogram.h"
#include "mime/control_fields.h"
#include "net/asio.h"
#include "net/auth_failure_limiter.h"
#include "smtp/server/accounts.h"
#include "smtp/server/limits.h"
#include "smtp/server/options.h"
#include "store/spool.h"

namespace txmail::smtp {

// What an inbound listener answers at the end of a message (issue bounce-1).
struct InboundReply {
  int code = 250;
  std::string enhanced = "2.0.0";
  std::string text = "Ok";
};

struct ServerContext {
  ServerOptions options;
  std::shared_ptr<asio::ssl::context> tls;  // null: no STARTTLS, no port 465
  store::Spool& spool;
  // Who a client is, its limits, its sender domains and its recipients' intake policy.
  Accounts& accounts;
  asio::thread_pool& workers;  // slow hashes and other CPU work off the I/O threads
  ConnectionLimiter connections;
  // Failed authentications per client address, shared with the HTTP API.
  net::AuthFailureLimiter& auth_failures;
  Histogram ack_latency;  // end of message data to the spool's sync, per accepted message
  // Called on the session's thread for every job the spool has synced (hands it to delivery,
  // which may take the record's message).
  std::function<void(store::SpoolRecord&)> on_spooled;
  // Units of one account waiting for a delivery connection (inflow control); any thread.
  std::function<std::size_t(const std::string& account)> delivery_backlog;
  // Why this node takes no mail now (draining, the region's quorum lost), or
  // nullopt. Asked at the greeting (421), at MAIL and before the final reply (451): a client
  // never hears 250 for a message the node cannot keep. Any thread; cheap. Null: always open.
  std::function<std::optional<std::string>()> refuse_intake;
  // Every accepted job, before its recipients are handed on: the control fields the client set
  // (X-TXMAIL-*, X-RETARUS-M4A-*; already removed from the message).
  std::function<void(const store::SpoolRecord& job, const mime::ControlFields& control)> on_job;
  // Cluster mode: what the record carries for the job's push notifications
  // (store::SpoolRecord::job_data), from its control fields; set before the job is stored.
  std::function<std::string(const store::SpoolRecord& job, const mime::ControlFields& control)>
      job_data;
  // A recipient of an accepted job that was dropped at intake, and why.
  std::function<void(const store::SpoolRecord& job, const store::SpoolRecipient& rcpt,
                     const RecipientDrop& why)>
      on_dropped;
  // A job was accepted with something to report before delivery (sent unsigned, and why).
  std::function<void(const store::SpoolRecord&, const std::string& note)> on_note;
  // Calls its argument once what the hooks above recorded of a job (its events, its data) is
  // stored: the 250 waits for it, so that an acknowledged job's events are never only in
  // memory; so does an inbound listener's reply. Null: no wait.
  std::function<void(std::function<void()>)> events_stored;
  // Inbound listeners: whether an address is one this node receives (a return path it made),
  // any thread, cheap; and what it does with a message received for such addresses (on the
  // worker pool). Null: an inbound listener refuses every recipient.
  std::function<bool(const std::string& address)> inbound_recipient;
  std::function<InboundReply(const std::string& message, const std::vector<std::string>& rcpts)>
      inbound_message;

  ServerContext(ServerOptions opts, std::shared_ptr<asio::ssl::context> tls_ctx, store::Spool& s,
                Accounts& a, net::AuthFailureLimiter& auth_limiter, asio::thread_pool& w)
      : options(std::move(opts)),
        tls(std::move(tls_ctx)),
        spool(s),
        accounts(a),
        workers(w),
        connections(options),
        auth_failures(auth_limiter) {}
};

}  // namespace txmail::smtp
