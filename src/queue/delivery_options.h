// What delivery is configured with ([delivery], [[delivery.route]], [[delivery.policy]],
// [[egress.source]], [[egress.pool]] in docs/config.md).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "queue/retry_policy.h"
#include "smtp/client/client_session.h"
#include "smtp/client/mx_walk.h"
#include "store/capture_store.h"

namespace txmail::queue {

struct EgressSource {
  std::string name = "default";
  std::string address;  // bind address; empty: the system's choice
  std::string ehlo;     // empty: the node name
  std::string site;     // the site whose nodes send from it; empty: every site's
};

struct RouteRule {
  std::string domain;  // exact (lower case) or "*"
  smtp::Route route;
};

// Limits and TLS for one destination, chosen by the recipient domain (exact match).
struct DestinationPolicy {
  std::string domain;
  std::optional<std::size_t> max_connections;
  std::optional<std::size_t> max_messages_per_connection;
  std::optional<std::size_t> max_recipients;
  std::optional<double> rate;  // messages per second
  std::optional<smtp::TlsMode> tls;
};

struct DeliveryOptions {
  std::vector<EgressSource> sources = {EgressSource{}};
  std::map<std::string, std::vector<std::string>> pools;  // "default" when absent: every source
  std::vector<RouteRule> routes;
  std::vector<DestinationPolicy> policies;
  std::size_t max_connections_per_site = 10;
  std::size_t max_connections_per_source = 200;
  // Units routed (MX and address lookups) at once; more due units wait in the scheduled queue.
  std::size_t max_dns_lookups = 100;
  std::size_t max_messages_per_connection = 100;
  std::size_t max_recipients_per_transaction = 50;
  double rate_per_site = 0;    // messages per second per destination site; 0: unlimited
  double rate_per_source = 0;  // messages per second per egress source; 0: unlimited
  smtp::TlsMode tls = smtp::TlsMode::kOpportunistic;
  RetryPolicy retry;
  smtp::ClientOptions client;  // timeouts (ehlo, source and tls are set per connection)
  std::chrono::milliseconds idle_connection = std::chrono::seconds(2);
  // Hold everything in the spool: nothing is attempted (maintenance, and tests of intake).
  bool paused = false;
  // The port of MX hosts (25; another only for test networks).
  std::uint16_t mx_port = 25;
  // The return path the service owns (issue bounce-1): the envelope sender of one recipient,
  // b-<token>@<bounce domain>, from its mail id and the job's own sender (whose domain may
  // have a return-path subdomain of its own). Set: each recipient goes in a transaction of its
  // own (one MAIL FROM each, the message sent once per recipient); unset, or nullopt for a
  // mail id: the job's own sender, and the unit's recipients share a transaction.
  std::function<std::optional<std::string>(const std::string& mail_id, const std::string& sender)>
      return_path;
  // Sandbox accounts (queue/sandbox.h): true for an account whose mail is captured instead of
  // sent. Any thread. Unset: no account is.
  std::function<bool(const std::string& account)> sandbox;
  // Keeps captured messages (the capture store); called on the worker pool. A failure defers
  // the recipients as a failed delivery would.
  std::function<Result<void>(const std::vector<store::CapturedMessage>&)> capture;
};

}  // namespace txmail::queue
