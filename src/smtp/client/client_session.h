// ClientSession: one outbound SMTP connection (RFC 5321) to one MX host, from one egress
// source: greeting, EHLO (HELO if refused), STARTTLS by policy, then any number of
// transactions, PIPELINING when offered, one result per recipient. Every wait has the
// deadline of RFC 5321 section 4.5.3.2. Replies are judged by trouble.cc alone.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/connection.h"
#include "smtp/client/tls_policy.h"
#include "smtp/client/trouble.h"

namespace txmail::smtp {

struct ClientOptions {
  using Duration = std::chrono::milliseconds;
  std::string ehlo = "localhost";
  std::string source;  // egress address to bind; empty: any
  TlsMode tls = TlsMode::kOpportunistic;
  Duration connect_timeout = std::chrono::seconds(30);
  Duration greeting_timeout = std::chrono::minutes(5);
  Duration command_timeout = std::chrono::minutes(5);  // EHLO, MAIL, RCPT, RSET
  Duration data_init_timeout = std::chrono::minutes(2);
  Duration data_block_timeout = std::chrono::minutes(3);
  Duration data_end_timeout = std::chrono::minutes(10);
};

struct Outgoing {
  std::string sender;                          // as submitted (UTF-8 or A-label domains)
  std::vector<std::string> recipients;         // as submitted
  std::shared_ptr<const std::string> message;  // CRLF lines, not dot-stuffed
  bool smtputf8 = false;                       // submitted with SMTPUTF8
  bool eight_bit = false;                      // 8-bit content (BODY=8BITMIME)
};

// An answer and its verdict (trouble.h), for one recipient or a whole connection's opening.
struct RecipientAnswer {
  Verdict verdict;
  std::optional<Reply> reply;  // what the server said; none when it said nothing
  std::string detail;          // the reply as text (or what went wrong), for the event
};

struct Peer {
  std::string host;     // MX name
  std::string address;  // IP
  std::uint16_t port = 25;
};

class ClientSession {
 public:
  struct Opened {
    std::unique_ptr<ClientSession> session;  // null when it failed
    // Why it failed: the verdict for every unit waiting for the site.
    RecipientAnswer failure;
    bool tls_failed = false;  // the handshake failed: a clear-text retry may be allowed
  };

  static awaitable<Opened> open(asio::any_io_executor executor, Peer peer, ClientOptions options,
                                std::shared_ptr<asio::ssl::context> tls);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;
  ClientSession(ClientSession&&) = delete;
  ClientSession& operator=(ClientSession&&) = delete;

  // One transaction; results in the order of out.recipients. The addresses are written in the
  // form the server can take (envelope_form.h).
  awaitable<std::vector<RecipientAnswer>> send(const Outgoing& out);
  awaitable<void> quit();

  bool usable() const { return usable_; }

  const Peer& peer() const { return peer_; }

  std::string tls_version() const { return conn_->tls_version(); }

  const std::string& local_address() const { return conn_->local_ip(); }

 private:
  ClientSession(std::shared_ptr<net::Connection> conn, Peer peer, ClientOptions options);
  awaitable<Result<Reply>> read_reply(std::chrono::milliseconds timeout);
  awaitable<Result<void>> write(std::string data, std::chrono::milliseconds timeout);
  awaitable<Result<Reply>> command(std::string line, std::chrono::milliseconds timeout);
  awaitable<Result<Reply>> hello();
  // MAIL, RCPT, DATA and the message, with the addresses as given.
  awaitable<std::vector<RecipientAnswer>> transact(const Outgoing& out);
  static std::vector<RecipientAnswer> all(const Outgoing& out, const RecipientAnswer& o);

  std::shared_ptr<net::Connection> conn_;
  Peer peer_;
  ClientOptions options_;
  std::string in_;
  bool usable_ = true;
  bool pipelining_ = false;
  bool starttls_ = false;
  bool smtputf8_ = false;
  bool eight_bit_mime_ = false;
  std::uint64_t max_size_ = 0;  // 0: not announced
};

// The body of DATA with every line that starts with a dot stuffed (RFC 5321 section 4.5.2):
// the message itself when no line does (the usual case, no copy), else a copy in `storage`.
std::string_view stuff_dots(std::string_view message, std::string& storage);
// What ends DATA after that body: "." CRLF, with a CRLF first if the body lacks its last one.
std::string_view data_terminator(std::string_view body);
// The whole wire form: stuff_dots() then data_terminator().
std::string dot_stuff(std::string_view message);

}  // namespace txmail::smtp
