// What the SMTP server is configured with ([[smtp.listener]] and [smtp] in docs/config.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace txmail::smtp {

enum class ListenerMode {
  kRelay,        // port 25: authenticated clients or allow-listed source IPs only
  kSubmission,   // 587/2525: AUTH (after STARTTLS) required before MAIL
  kSubmissions,  // 465: implicit TLS, then as submission
  kInbound,      // port 25 for the bounce domain (issue bounce-1): anyone, no AUTH, only the
                 // return paths this node made; every other recipient refused (no relay)
};

struct ListenerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 2525;
  ListenerMode mode = ListenerMode::kSubmission;
};

struct ServerOptions {
  using Duration = std::chrono::milliseconds;

  std::string hostname = "localhost";  // greeting, EHLO reply, Received header
  std::vector<ListenerOptions> listeners;
  std::uint64_t max_message_size = 20U << 20;
  std::size_t max_recipients = 1000;
  std::size_t max_connections = 1000;
  std::size_t max_connections_per_ip = 50;
  std::size_t max_errors = 10;
  std::size_t max_auth_failures = 3;  // per connection, then 421
  // The limits of net::AuthFailureLimiter, which app/serve.cc makes from these and shares
  // with the HTTP API.
  std::size_t max_auth_failures_per_user =
      10;  // per (IP, user) and window: then that user is refused from that IP
  std::size_t max_auth_failures_per_ip =
      100;  // per IP and window, any user: then AUTH refused from that IP
  Duration auth_failure_window = std::chrono::minutes(5);
  // A whole command line must arrive within command_timeout (not each byte of it: issue
  // harden-1, slowloris); message data within data_timeout for each block and, beyond that
  // first window, at min_data_rate on average; a session ends after session_timeout.
  Duration command_timeout = std::chrono::minutes(5);  // RFC 5321 section 4.5.3.2.7
  Duration data_timeout = std::chrono::minutes(3);     // per read while receiving data
  std::size_t min_data_rate = 1024;                    // bytes a second, on average
  Duration session_timeout = std::chrono::hours(1);
  Duration tls_handshake_timeout = std::chrono::seconds(30);
  Duration shutdown_grace = std::chrono::seconds(10);
  // Inflow control (like Postfix's in_flow_delay): MAIL waits up to inflow_delay while more
  // than inflow_backlog units wait for a delivery connection. 0 disables.
  Duration inflow_delay = std::chrono::seconds(1);
  std::size_t inflow_backlog = 200;
};

}  // namespace txmail::smtp
