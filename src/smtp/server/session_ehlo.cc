// EHLO/HELO (RFC 5321 section 4.1.1.1), the capabilities offered, and the commands that
// change no state: NOOP, VRFY (252, RFC 5321 section 3.5.3), EXPN, HELP, QUIT, RSET.
#include <fmt/format.h>

#include "smtp/server/session.h"

namespace txmail::smtp {

std::vector<std::string> Session::capabilities() const {
  std::vector<std::string> caps = {
      ctx_.options.hostname,
      "PIPELINING",
      fmt::format("SIZE {}", ctx_.options.max_message_size),
      "8BITMIME",
      "SMTPUTF8",
      "ENHANCEDSTATUSCODES",
      "CHUNKING",
  };
  if (ctx_.tls && !conn_->tls()) {
    caps.emplace_back("STARTTLS");
  }
  // AUTH only over TLS (RFC 4954 section 4, DESIGN.md section 9), and only once.
  if (conn_->tls() && !account_) {
    caps.emplace_back("AUTH PLAIN LOGIN");
  }
  return caps;
}

void Session::on_ehlo(const Command& cmd) {
  reset_transaction();
  helo_ = cmd.domain;
  esmtp_ = true;
  phase_ = Phase::kGreeted;
  Reply r;
  r.code = 250;
  r.enhanced = "";
  r.lines = capabilities();
  reply(r);
}

void Session::on_helo(const Command& cmd) {
  reset_transaction();
  helo_ = cmd.domain;
  esmtp_ = false;
  phase_ = Phase::kGreeted;
  reply(Reply(250, "", ctx_.options.hostname));
}

void Session::on_rset() {
  reset_transaction();
  reply(250, "2.0.0", "Ok");
}

void Session::on_small(const Command& cmd) {
  switch (cmd.verb) {
    case Verb::kNoop:
      reply(250, "2.0.0", "Ok");
      return;
    case Verb::kQuit:
      reply(221, "2.0.0", "Bye");
      quit_ = true;
      return;
    case Verb::kVrfy:
      reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
      return;
    case Verb::kExpn:
      reply(502, "5.5.1", "EXPN not available");
      return;
    case Verb::kHelp:
      reply(214, "2.0.0",
            "See RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS "
            "AUTH");
      return;
    case Verb::kEhlo:
    case Verb::kHelo:
    case Verb::kMail:
    case Verb::kRcpt:
    case Verb::kData:
    case Verb::kBdat:
    case Verb::kRset:
    case Verb::kStartTls:
    case Verb::kAuth:
      break;
  }
  reply(500, "5.5.1", "Command unrecognized");
}

}  // namespace txmail::smtp
