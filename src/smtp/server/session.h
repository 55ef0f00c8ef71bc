// One SMTP server session (RFC 5321), from greeting to QUIT. The read loop and dispatch live in
// session.cc; each phase has its own file: session_ehlo.cc (EHLO/HELO and the small
// commands), session_tls.cc (STARTTLS), session_auth.cc (AUTH), session_mail.cc (MAIL, RCPT
// and relay policy), session_data.cc (DATA, BDAT and spooling).
//
// Invariants: a session runs on one io_context thread; replies are buffered and flushed before
// the session blocks on input (PIPELINING, RFC 2920); a 250 to the end of data is sent only
// after the spool has synced the message.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/connection.h"
#include "smtp/proto/command.h"
#include "smtp/proto/message_reader.h"
#include "smtp/server/server_context.h"

namespace txmail::smtp {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ServerContext& ctx, const ListenerOptions& listener,
          std::shared_ptr<net::Connection> conn);

  static awaitable<void> run(std::shared_ptr<Session> self);
  // Graceful shutdown: an idle session says 421 and closes; a busy one finishes its transaction.
  void stop();

  void force_close() { conn_->close(); }

  asio::any_io_executor executor() { return conn_->executor(); }

 private:
  enum class Phase { kConnected, kGreeted, kMail, kRcpt };

  struct Envelope {
    Mailbox sender;
    std::vector<Mailbox> recipients;
    BodyType body = BodyType::k7Bit;
    bool smtputf8 = false;
    std::optional<std::uint64_t> declared_size;
    std::size_t head_bytes = 0;  // the job record's size without the message, so far (0: none)
  };

  // session.cc
  awaitable<void> loop();
  awaitable<std::optional<std::string>> read_line();
  awaitable<bool> fill(std::chrono::milliseconds timeout);
  // fill() until a deadline: what is left of it, within the session's own.
  awaitable<bool> fill_until(std::chrono::steady_clock::time_point deadline);
  // The deadline of message data that started at `start` with `received` bytes so far.
  std::chrono::steady_clock::time_point data_deadline(std::chrono::steady_clock::time_point start,
                                                      std::uint64_t received) const;
  awaitable<bool> flush();
  awaitable<void> dispatch(const std::string& line);
  void reply(const Reply& r);
  void reply(int code, const char* enhanced, const char* text);
  void reset_transaction();
  // Whether the job record has room for one more recipient (a cluster spool keeps a job's
  // recipients in one message); counts it when it has.
  bool head_has_room(const Mailbox& recipient);
  std::string_view buffered() const;
  void consume(std::size_t n);

  // session_ehlo.cc
  void on_ehlo(const Command& cmd);
  void on_helo(const Command& cmd);
  void on_rset();
  void on_small(const Command& cmd);  // NOOP, VRFY, EXPN, HELP, QUIT
  std::vector<std::string> capabilities() const;

  // session_tls.cc
  awaitable<void> on_starttls();
  awaitable<bool> start_implicit_tls();

  // session_auth.cc
  awaitable<void> on_auth(const Command& cmd);
  awaitable<std::optional<std::string>> auth_response(const char* challenge_b64);
  awaitable<void> finish_auth(std::string user, std::string password);
  void auth_failed(const char* why);

  // session_mail.cc
  void on_mail(Command cmd);
  // Inflow control: a new transaction waits (at most [smtp] inflow_delay) while delivery has
  // more ready work than [smtp] inflow_backlog, so intake cannot outrun delivery.
  awaitable<void> inflow_wait();
  void on_rcpt(Command cmd);
  bool may_relay() const;

  // session_data.cc
  void reply_no_transaction(const char* verb);
  awaitable<void> on_data();
  awaitable<void> on_bdat(const Command& cmd);
  awaitable<bool> read_chunk(ChunkReader* reader, std::uint64_t size);
  awaitable<void> finish_message(const ContentProblems& problems, std::uint64_t size);
  awaitable<void> finish_inbound();  // a message to an inbound listener (issue bounce-1)
  std::string trace_headers(const std::string& job_id) const;
  awaitable<void> seven_bit(store::SpoolRecord& record);
  // session_sign.cc: false when the sender domain policy refused the message (reply sent).
  awaitable<bool> sign_message(store::SpoolRecord& record, std::string& note);

  ServerContext& ctx_;
  const ListenerOptions& listener_;
  std::shared_ptr<net::Connection> conn_;
  std::string id_;  // short session id for logs

  // Input: [in_pos_, in_end_) of in_ is read and not yet consumed. Allocated once per session,
  // never zero-filled; read_line() and the data readers consume what they look at, so it
  // never holds more than one read plus a partial command line.
  static constexpr std::size_t kInputSize = std::size_t{32} * 1024;
  std::unique_ptr<char[]> in_ = std::make_unique_for_overwrite<char[]>(kInputSize);
  std::size_t in_pos_ = 0;
  std::size_t in_end_ = 0;
  std::string out_;

  Phase phase_ = Phase::kConnected;
  bool esmtp_ = false;
  std::string helo_;
  std::optional<std::string> account_;     // authenticated account
  std::optional<std::string> ip_account_;  // account whose allow_ips hold the client
  Envelope envelope_;
  std::string message_;
  std::unique_ptr<ChunkReader> bdat_;
  bool bdat_failed_ = false;  // the current BDAT transaction was refused: discard chunks
  std::size_t errors_ = 0;
  std::size_t auth_failures_ = 0;
  std::string auth_user_;  // the user of the AUTH exchange in progress (limits per user)
  std::size_t messages_ = 0;
  bool quit_ = false;
  bool stopping_ = false;
  bool idle_ = false;
  std::chrono::steady_clock::time_point session_deadline_ =
      std::chrono::steady_clock::time_point::max();  // waiting for a command: stop() may interrupt
};

}  // namespace txmail::smtp
