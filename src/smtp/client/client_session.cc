#include "smtp/client/client_session.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/log.h"
#include "smtp/client/envelope_form.h"

namespace txmail::smtp {

namespace {

constexpr std::size_t kMaxReply = std::size_t{64} * 1024;
// The text kept of one reply, all its lines together: what a hostile MX sends beyond it is
// read and dropped (a reply may have 100 lines of 64 KiB, and a transaction keeps every reply).
constexpr std::size_t kMaxReplyKept = std::size_t{16} * 1024;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// "5.1.1 text" → enhanced "5.1.1", text "text"; no enhanced code → enhanced "".
Reply make_reply(int code, const std::vector<std::string>& lines) {
  Reply r;
  r.code = code;
  r.enhanced.clear();
  r.lines.clear();
  for (const auto& line : lines) {
    std::string text = line;
    const std::size_t sp = text.find(' ');
    const std::string first = text.substr(0, sp);
    if (first.size() >= 5 && is_digit(first[0]) && first[1] == '.'
        && first.find_first_not_of("0123456789.") == std::string::npos) {
      if (r.enhanced.empty()) {
        r.enhanced = first;
      }
      text = sp == std::string::npos ? std::string() : text.substr(sp + 1);
    }
    r.lines.push_back(std::move(text));
  }
  return r;
}

std::string describe(const Reply& r) {
  std::string out = std::to_string(r.code);
  if (!r.enhanced.empty()) {
    out += " " + r.enhanced;
  }
  if (!r.lines.empty()) {
    out += " " + r.lines.back();
  }
  out.resize(std::min<std::size_t>(out.size(), 300));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      c = '?';  // the text goes into events and logs: no control characters
    }
  }
  return out;
}

// The verdict of trouble.cc on the answer at `stage`, with the reply kept for the event.
RecipientAnswer judge(Stage stage, const Result<Reply>& r) {
  if (!r) {
    return {classify_failure(stage), std::nullopt, r.error().detail};
  }
  return {classify_reply(stage, *r), *r, describe(*r)};
}

// Nothing to ask: the peer lacks what the message or the TLS policy needs.
RecipientAnswer missing(Stage stage, std::string why) {
  return {classify_missing(stage), std::nullopt, std::move(why)};
}

}  // namespace

namespace {

// True where a dot starts a line: at the very start, or right after a CRLF. Dots are rarer
// than line ends (base64 has none), so the scan is for dots.
bool any_line_starts_with_dot(std::string_view m) {
  for (std::size_t k = m.find('.'); k != std::string_view::npos; k = m.find('.', k + 1)) {
    if (k == 0 || (k >= 2 && m[k - 1] == '\n' && m[k - 2] == '\r')) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string_view stuff_dots(std::string_view message, std::string& storage) {
  if (!any_line_starts_with_dot(message)) {
    return message;
  }
  storage.clear();
  storage.reserve(message.size() + message.size() / 64 + 1);
  if (message.front() == '.') {
    storage.push_back('.');
  }
  // Copy in runs, doubling the dot after each CRLF that is followed by one.
  std::size_t pos = 0;
  for (;;) {
    const std::size_t k = message.find("\r\n.", pos);
    if (k == std::string_view::npos) {
      storage.append(message.substr(pos));
      break;
    }
    storage.append(message.substr(pos, k + 3 - pos));
    storage.push_back('.');
    pos = k + 3;
  }
  return storage;
}

std::string_view data_terminator(std::string_view body) {
  return body.empty() || body.ends_with("\r\n") ? std::string_view(".\r\n")
                                                : std::string_view("\r\n.\r\n");
}

std::string dot_stuff(std::string_view message) {
  std::string storage;
  const std::string_view body = stuff_dots(message, storage);
  std::string out(body);
  out.append(data_terminator(body));
  return out;
}

ClientSession::ClientSession(std::shared_ptr<net::Connection> conn, Peer peer,
                             ClientOptions options)
    : conn_(std::move(conn)), peer_(std::move(peer)), options_(std::move(options)) {}

ClientSession::~ClientSession() {
  conn_->close();
}

awaitable<Result<void>> ClientSession::write(std::string data, std::chrono::milliseconds timeout) {
  auto r = co_await conn_->write(data, timeout);
  if (!r) {
    usable_ = false;
  }
  co_return r;
}

awaitable<Result<Reply>> ClientSession::read_reply(std::chrono::milliseconds timeout) {
  std::vector<std::string> lines;
  std::size_t count = 0;  // lines read
  std::size_t kept = 0;   // bytes of text kept
  int code = 0;
  // One deadline for the whole reply: a peer that drips a byte now and then does not hold the
  // connection (and its slot) longer than `timeout`.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const std::size_t lf = in_.find('\n');
    if (lf == std::string::npos) {
      if (in_.size() > kMaxReply) {
        usable_ = false;
        co_return make_error(ErrorCode::kNetwork, "reply too long");
      }
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) {
        usable_ = false;
        co_return make_error(ErrorCode::kTimeout,
                             fmt::format("reply not complete within {} ms", timeout.count()));
      }
      char buf[4096];
      auto n = co_await conn_->read_some(buf, sizeof buf, left);
      if (!n) {
        usable_ = false;
        co_return tl::unexpected(n.error());
      }
      in_.append(buf, *n);
      continue;
    }
    std::string line = in_.substr(0, lf);
    in_.erase(0, lf + 1);
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    int line_code = 0;
    bool last = false;
    std::string text;
    if (!parse_reply_line(line, line_code, last, text) || (code != 0 && line_code != code)
        || ++count > 101) {
      usable_ = false;
      co_return make_error(ErrorCode::kNetwork, "malformed reply: " + printable(line));
    }
    code = line_code;
    if (kept < kMaxReplyKept) {
      text.resize(std::min(text.size(), kMaxReplyKept - kept));
      kept += text.size();
      lines.push_back(std::move(text));
    }
    if (last) {
      Reply r = make_reply(code, lines);
      if (code == 421) {
        usable_ = false;  // the server is closing the connection
      }
      co_return r;
    }
  }
}

awaitable<Result<Reply>> ClientSession::command(std::string line,
                                                std::chrono::milliseconds timeout) {
  line += "\r\n";
  if (auto w = co_await write(std::move(line), timeout); !w) {
    co_return tl::unexpected(w.error());
  }
  co_return co_await read_reply(timeout);
}

// EHLO, or HELO when EHLO is refused; records the extensions offered.
awaitable<Result<Reply>> ClientSession::hello() {
  auto r = co_await command("EHLO " + options_.ehlo, options_.command_timeout);
  if (!r) {
    co_return r;
  }
  if (r->code != 250) {
    r = co_await command("HELO " + options_.ehlo, options_.command_timeout);
    pipelining_ = starttls_ = smtputf8_ = eight_bit_mime_ = false;
    max_size_ = 0;
    co_return r;
  }
  pipelining_ = starttls_ = smtputf8_ = eight_bit_mime_ = false;
  max_size_ = 0;
  for (std::size_t i = 1; i < r->lines.size(); ++i) {
    std::string ext = r->lines[i];
    for (char& c : ext) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (ext == "PIPELINING") {
      pipelining_ = true;
    } else if (ext == "STARTTLS") {
      starttls_ = true;
    } else if (ext == "SMTPUTF8") {
      smtputf8_ = true;
    } else if (ext == "8BITMIME") {
      eight_bit_mime_ = true;
    } else if (ext.starts_with("SIZE ")) {
      max_size_ = std::strtoull(ext.c_str() + 5, nullptr, 10);
    }
  }
  co_return r;
}

awaitable<ClientSession::Opened> ClientSession::open(asio::any_io_executor executor, Peer peer,
                                                     ClientOptions options,
                                                     std::shared_ptr<asio::ssl::context> tls) {
  Opened out;
  auto socket = co_await net::Connection::connect(executor, peer.address, peer.port, options.source,
                                                  options.connect_timeout);
  if (!socket) {
    out.failure = judge(Stage::kConnect, tl::unexpected(socket.error()));
    co_return out;
  }
  auto conn = std::make_shared<net::Connection>(std::move(*socket), tls);
  conn->start();
  std::unique_ptr<ClientSession> s(new ClientSession(conn, peer, options));
  auto fail = [&](Stage stage, const Result<Reply>& r) {
    out.failure = judge(stage, r);
    return std::move(out);
  };
  auto greeting = co_await s->read_reply(options.greeting_timeout);
  if (!greeting || greeting->code != 220) {
    co_return fail(Stage::kGreeting, greeting);
  }
  auto hello = co_await s->hello();
  if (!hello || hello->code != 250) {
    co_return fail(Stage::kEhlo, hello);
  }
  const bool want_tls = options.tls != TlsMode::kDisabled && tls != nullptr;
  if (want_tls && s->starttls_) {
    auto go = co_await s->command("STARTTLS", options.command_timeout);
    if (!go || go->code != 220) {
      // A 421 closes the connection: there is no session left to go on with in clear.
      if (tls_mandatory(options.tls) || !go || !s->usable_) {
        co_return fail(Stage::kStartTls, go);
      }
    } else {
      auto hs = co_await conn->handshake_client(peer.host, options.tls == TlsMode::kVerify,
                                                options.command_timeout);
      if (!hs) {
        out.failure = judge(Stage::kStartTls,
                            make_error(ErrorCode::kNetwork, "TLS handshake with " + peer.host
                                                                + " failed: " + hs.error().detail));
        out.tls_failed = true;
        co_return out;
      }
      s->in_.clear();
      hello = co_await s->hello();
      if (!hello || hello->code != 250) {
        co_return fail(Stage::kEhlo, hello);
      }
    }
  } else if (tls_mandatory(options.tls)) {
    out.failure =
        missing(Stage::kStartTls, peer.host + " does not offer STARTTLS and the TLS policy is "
                                      + std::string(to_string(options.tls)));
    co_return out;
  }
  out.session = std::move(s);
  co_return out;
}

std::vector<RecipientAnswer> ClientSession::all(const Outgoing& out, const RecipientAnswer& o) {
  // The (count, value) constructor: braces would ask for a list.
  // NOLINTNEXTLINE(modernize-return-braced-init-list)
  return std::vector<RecipientAnswer>(out.recipients.size(), o);
}

awaitable<std::vector<RecipientAnswer>> ClientSession::send(const Outgoing& out) {
  if (max_size_ > 0 && out.message->size() > max_size_) {
    co_return all(
        out, missing(Stage::kMail, fmt::format("message of {} bytes is larger than {} accepts ({})",
                                               out.message->size(), peer_.host, max_size_)));
  }
  // The addresses in the form this server can take (envelope_form.h): UTF-8 with SMTPUTF8,
  // else ASCII with A-label domains; what has no ASCII form fails here, permanently.
  const EnvelopeForm form =
      envelope_form(EnvelopeInput{out.sender, out.recipients, out.smtputf8,
                                  out.smtputf8 && utf8_header_section(*out.message)},
                    smtputf8_, peer_.host);
  if (!form.message_refused.empty()) {
    co_return all(out, missing(Stage::kMail, form.message_refused));
  }
  Outgoing wire;
  wire.sender = form.sender;
  wire.message = out.message;
  wire.smtputf8 = form.smtputf8;
  wire.eight_bit = out.eight_bit;
  std::vector<std::size_t> sent;  // the index in `out` of each recipient of `wire`
  std::vector<RecipientAnswer> results(out.recipients.size());
  for (std::size_t i = 0; i < out.recipients.size(); ++i) {
    if (form.refused[i].empty()) {
      wire.recipients.push_back(form.recipients[i]);
      sent.push_back(i);
    } else {
      results[i] = missing(Stage::kMail, form.refused[i]);
    }
  }
  if (wire.recipients.empty()) {
    co_return results;
  }
  const auto answers = co_await transact(wire);
  for (std::size_t k = 0; k < sent.size(); ++k) {
    results[sent[k]] = answers[k];
  }
  co_return results;
}

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
awaitable<std::vector<RecipientAnswer>> ClientSession::transact(const Outgoing& out) {
  if (out.eight_bit && !eight_bit_mime_) {
    // RFC 6152: 8-bit data must not go to a peer without 8BITMIME. SMTP intake converted
    // every message it could to 7-bit (mime/seven_bit.h); this one could not be.
    co_return all(
        out, missing(Stage::kMail, peer_.host + " does not support 8BITMIME for an 8-bit message"));
  }
  std::string mail = "MAIL FROM:<" + out.sender + ">";
  if (max_size_ > 0) {
    mail += " SIZE=" + std::to_string(out.message->size());
  }
  if (out.eight_bit) {
    mail += " BODY=8BITMIME";
  }
  if (out.smtputf8) {
    mail += " SMTPUTF8";
  }
  std::vector<std::string> commands = {mail + "\r\n"};
  for (const auto& rcpt : out.recipients) {
    commands.push_back("RCPT TO:<" + rcpt + ">\r\n");
  }
  commands.emplace_back("DATA\r\n");

  // With PIPELINING, MAIL, every RCPT and DATA go in one write (RFC 2920 section 3.1).
  std::vector<Result<Reply>> replies;
  if (pipelining_) {
    std::string batch;
    for (const auto& c : commands) {
      batch += c;
    }
    if (auto w = co_await write(batch, options_.command_timeout); !w) {
      co_return all(out, judge(Stage::kMail, tl::unexpected(w.error())));
    }
    for (std::size_t i = 0; i < commands.size(); ++i) {
      replies.push_back(co_await read_reply(i + 1 == commands.size() ? options_.data_init_timeout
                                                                     : options_.command_timeout));
      if (!replies.back()) {
        break;
      }
    }
  } else {
    for (std::size_t i = 0; i < commands.size(); ++i) {
      const bool is_data = i + 1 == commands.size();
      // Without pipelining, DATA is sent only when some recipient was accepted.
      if (is_data && std::none_of(replies.begin() + 1, replies.end(), [](const auto& r) {
            return r && r->code / 100 == 2;
          })) {
        break;
      }
      if (auto w = co_await write(commands[i], options_.command_timeout); !w) {
        replies.emplace_back(tl::unexpected(w.error()));
        break;
      }
      replies.push_back(
          co_await read_reply(is_data ? options_.data_init_timeout : options_.command_timeout));
      if (!replies.back() || (i == 0 && replies.back()->code / 100 != 2)) {
        break;
      }
    }
  }
  // MAIL
  if (!replies[0] || replies[0]->code / 100 != 2) {
    const RecipientAnswer refused = judge(Stage::kMail, replies[0]);
    if (usable_ && replies.size() == commands.size() && replies.back()
        && replies.back()->code == 354) {
      // A pipelined DATA went through: end it empty. Its reply cannot change the outcome (MAIL
      // was refused); a failed write or read leaves the connection unusable for the RSET.
      if (auto sent = co_await write(".\r\n", options_.command_timeout); sent) {
        (void)co_await read_reply(options_.data_end_timeout);
      }
    }
    if (usable_) {
      // Best effort, to reuse the connection: a failure marks it unusable, the outcome stands.
      (void)co_await command("RSET", options_.command_timeout);
    }
    co_return all(out, refused);
  }
  std::vector<RecipientAnswer> results(out.recipients.size());
  std::vector<std::size_t> accepted;
  for (std::size_t i = 0; i < out.recipients.size(); ++i) {
    const std::size_t k = i + 1;
    results[i] = k < replies.size()
                     ? judge(Stage::kRcpt, replies[k])
                     : judge(Stage::kRcpt, make_error(ErrorCode::kNetwork, "no reply"));
    if (results[i].verdict.decision == Decision::kDelivered) {
      accepted.push_back(i);
    }
  }
  const bool data_sent = replies.size() == commands.size();
  const Result<Reply>* data_reply = data_sent ? &replies.back() : nullptr;
  if (accepted.empty() || data_reply == nullptr || !*data_reply || (*data_reply)->code != 354) {
    if (data_reply != nullptr && *data_reply && (*data_reply)->code == 354) {
      // Pipelined DATA accepted though no recipient was: send an empty message end. Its reply
      // cannot change the outcome; a failed write leaves the connection unusable.
      if (auto sent = co_await write(".\r\n", options_.command_timeout); sent) {
        (void)co_await read_reply(options_.data_end_timeout);
      }
    }
    if (!accepted.empty()) {
      const RecipientAnswer data =
          data_reply != nullptr
              ? judge(Stage::kData, *data_reply)
              : judge(Stage::kData, make_error(ErrorCode::kNetwork, "DATA failed"));
      for (auto i : accepted) {
        results[i] = data;
      }
    }
    if (usable_) {
      // Best effort, to reuse the connection: a failure marks it unusable, the outcome stands.
      (void)co_await command("RSET", options_.command_timeout);
    }
    co_return results;
  }
  // No co_await inside a conditional expression, no temporaries bound across one: g++ 12
  // miscompiles both in coroutines.
  std::string stuffed;
  const std::string_view body = stuff_dots(*out.message, stuffed);
  const std::string_view terminator = data_terminator(body);
  auto sent = co_await conn_->write(body, terminator, options_.data_block_timeout);
  if (!sent) {
    usable_ = false;
  }
  Result<Reply> end = make_error(ErrorCode::kNetwork, "not sent");
  if (sent) {
    end = co_await read_reply(options_.data_end_timeout);
  } else {
    end = tl::unexpected(sent.error());
  }
  const RecipientAnswer data_end = judge(Stage::kDataEnd, end);
  for (auto i : accepted) {
    results[i] = data_end;
  }
  co_return results;
}

awaitable<void> ClientSession::quit() {
  if (usable_) {
    // The connection is closed below whatever the reply: there is nothing to do with it.
    (void)co_await command("QUIT", std::chrono::seconds(10));
  }
  usable_ = false;
  conn_->close();
}

}  // namespace txmail::smtp
