// DATA (RFC 5321 section 4.1.1.4) and BDAT (RFC 3030), and handing the message to the spool.
//
// The message is refused whole when it is too big (552 5.3.4), holds a bare CR or LF, or a line
// over 1000 octets (550 5.6.0): the SMTP smuggling defence. Otherwise trace headers are added
// (Received, RFC 5321 section 4.4; Message-ID and Date when missing, RFC 6409 section 8) and
// the job is spooled; the 250 goes out only once the spool reports it synced.
#include <fmt/format.h>

#include "common/idna.h"
#include "common/ids.h"
#include "common/log.h"
#include "mime/headers.h"
#include "mime/seven_bit.h"
#include "smtp/server/session.h"

namespace txmail::smtp {

namespace {

// Waits for the spool's sync (its completion runs on the spool's thread).
awaitable<Result<void>> spool_put(store::Spool& spool, const store::SpoolRecord& record) {
  return await_callback<Result<void>>([&spool, &record](std::function<void(Result<void>)> done) {
    spool.put(record, std::move(done));
  });
}

// Waits for the event log's sync of everything recorded so far (and, in cluster mode, for the
// region's copy of it); its completion runs on the log's writer thread or on a worker.
awaitable<bool> wait_for_events(const std::function<void(std::function<void()>)>& stored) {
  return await_callback<bool>([&stored](std::function<void(bool)> done) {
    stored([done = std::move(done)] { done(true); });
  });
}

}  // namespace

// DATA or BDAT without a transaction that has recipients: 554 when MAIL was accepted but no
// recipient was (RFC 5321 section 3.3), 503 when the order of commands is wrong.
void Session::reply_no_transaction(const char* verb) {
  if (phase_ == Phase::kMail) {
    reply(554, "5.5.1", "No valid recipients");
  } else {
    reply(503, "5.5.1", fmt::format("Need MAIL and RCPT before {}", verb).c_str());
  }
}

awaitable<void> Session::on_data() {
  if (phase_ != Phase::kRcpt) {
    reply_no_transaction("DATA");
    co_return;
  }
  if (bdat_) {
    reply(503, "5.5.1", "DATA not allowed after BDAT");
    co_return;
  }
  reply(354, "", "End data with <CR><LF>.<CR><LF>");
  message_.clear();
  DotReader reader(message_, ctx_.options.max_message_size);
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t received = 0;
  for (;;) {
    const std::size_t used = reader.feed(buffered());
    consume(used);
    received += used;
    if (reader.done()) {
      break;
    }
    // Each block within data_timeout, and all of it at min_data_rate beyond the first window.
    const auto block = std::chrono::steady_clock::now() + ctx_.options.data_timeout;
    if (!co_await fill_until(std::min(block, data_deadline(start, received)))) {
      quit_ = true;
      co_return;
    }
  }
  co_await finish_message(reader.problems(), reader.size());
}

// Reads exactly `size` octets of a chunk into reader (or discards them when reader is null).
awaitable<bool> Session::read_chunk(ChunkReader* reader, std::uint64_t size) {
  std::uint64_t left = size;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const std::string_view data = buffered();
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, data.size()));
    if (reader != nullptr) {
      reader->feed(data.substr(0, n));
    }
    consume(n);
    left -= n;
    if (left == 0) {
      co_return true;
    }
    const auto block = std::chrono::steady_clock::now() + ctx_.options.data_timeout;
    if (!co_await fill_until(std::min(block, data_deadline(start, size - left)))) {
      quit_ = true;
      co_return false;
    }
  }
}

awaitable<void> Session::on_bdat(const Command& cmd) {
  // A chunk is always read, even when refused, so the client and server stay in step.
  if (phase_ != Phase::kRcpt || bdat_failed_) {
    if (!co_await read_chunk(nullptr, cmd.chunk_size)) {
      co_return;
    }
    if (bdat_failed_) {
      if (cmd.last_chunk) {
        reset_transaction();
      }
      reply(503, "5.5.1", "Transaction already failed, send RSET");
    } else {
      reply_no_transaction("BDAT");
    }
    co_return;
  }
  if (!bdat_) {
    message_.clear();
    bdat_ = std::make_unique<ChunkReader>(message_, ctx_.options.max_message_size);
  }
  bdat_->begin_chunk(cmd.chunk_size);
  if (!co_await read_chunk(bdat_.get(), cmd.chunk_size)) {
    co_return;
  }
  if (bdat_->problems().oversize) {
    // Refuse now rather than after the client has sent gigabytes; later chunks are discarded.
    reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    bdat_failed_ = true;
    if (cmd.last_chunk) {
      reset_transaction();
    }
    co_return;
  }
  if (!cmd.last_chunk) {
    reply(250, "2.0.0", fmt::format("{} octets received", cmd.chunk_size).c_str());
    co_return;
  }
  bdat_->finish();
  const ContentProblems problems = bdat_->problems();
  const std::uint64_t size = bdat_->size();
  co_await finish_message(problems, size);
}

std::string Session::trace_headers(const std::string& job_id) const {
  const auto now = std::chrono::system_clock::now();
  std::string with = esmtp_ ? "ESMTP" : "SMTP";
  if (envelope_.smtputf8) {
    with = "UTF8SMTP";
  }
  if (conn_->tls()) {
    with += "S";
  }
  if (account_) {
    with += "A";
  }
  std::string tls;
  if (conn_->tls()) {
    tls = fmt::format(" ({}:{})", conn_->tls_version(), conn_->tls_cipher());
  }
  std::string out =
      fmt::format("Received: from {} ([{}])\r\n\tby {} (txmail) with {}{}\r\n\tid {}",
                  printable(helo_), conn_->remote_ip(), ctx_.options.hostname, with, tls, job_id);
  if (envelope_.recipients.size() == 1) {
    // The A-label form: an ASCII recipient at an IDN domain may go to a server without
    // SMTPUTF8 (envelope_form.h), and this header field must not hold UTF-8 then.
    out += fmt::format("\r\n\tfor <{}>", idna::address_key(envelope_.recipients.front().address()));
  }
  out += fmt::format(";\r\n\t{}\r\n", mime::rfc5322_date(now));
  const std::string_view headers = mime::header_section(message_);
  if (!mime::has_field(headers, "Message-ID")) {
    out += fmt::format("Message-ID: <{}@{}>\r\n", job_id, ctx_.options.hostname);
  }
  if (!mime::has_field(headers, "Date")) {
    out += fmt::format("Date: {}\r\n", mime::rfc5322_date(now));
  }
  return out;
}

// 8-bit content goes to every server as 7-bit (docs/delivery.md, "8-bit content"): converted
// here, before DKIM signing, so that the one signature verifies at a server with 8BITMIME and at
// one without. What cannot be converted (RFC 6532 header fields) keeps its 8BITMIME flag.
// Converting a large message is CPU work: it runs on the worker pool, like signing; the
// message stays put while the coroutine waits (the worker alone touches it).
awaitable<void> Session::seven_bit(store::SpoolRecord& record) {
  if ((record.flags & store::SpoolRecord::kFlag8BitMime) == 0) {
    co_return;
  }
  std::string* message = &message_;
  auto starter = [this, message](std::function<void(bool)> done) {
    asio::post(ctx_.workers, [message, done = std::move(done)] {
      if (auto converted = mime::to_seven_bit(*message)) {
        *message = std::move(*converted);
      }
      done(mime::seven_bit_clean(*message));
    });
  };
  if (co_await await_callback<bool>(std::move(starter))) {
    record.flags &= ~store::SpoolRecord::kFlag8BitMime;
  }
}

// What came back to a return path: read on the worker pool (the message stays put while the
// coroutine waits), answered with what the reader says once the events it recorded are
// stored. Nothing is spooled.
awaitable<void> Session::finish_inbound() {
  std::vector<std::string> rcpts;
  rcpts.reserve(envelope_.recipients.size());
  for (const auto& r : envelope_.recipients) {
    rcpts.push_back(r.address());
  }
  const std::string* message = &message_;
  auto starter = [this, message, &rcpts](std::function<void(InboundReply)> done) {
    asio::post(ctx_.workers, [this, message, &rcpts, done = std::move(done)] {
      try {
        done(ctx_.inbound_message ? ctx_.inbound_message(*message, rcpts) : InboundReply{});
      } catch (const std::exception& e) {
        logger()->error("smtp inbound: {}", e.what());
        done(InboundReply{451, "4.3.0", "Temporary failure, please try again later"});
      }
    });
  };
  const InboundReply answer = co_await await_callback<InboundReply>(std::move(starter));
  if (ctx_.events_stored) {
    // What the reader recorded (a bounce, a complaint, an unsubscribe) is stored before the
    // reply: a sender that got its 250 does not send the report again.
    co_await wait_for_events(ctx_.events_stored);
  }
  logger()->info("smtp session={} client={} inbound message rcpts={} reply={}", id_,
                 conn_->remote_ip(), rcpts.size(), answer.code);
  reply(answer.code, answer.enhanced.c_str(), answer.text.c_str());
  reset_transaction();
}

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
awaitable<void> Session::finish_message(const ContentProblems& problems, std::uint64_t size) {
  const auto data_end = std::chrono::steady_clock::now();
  const std::string job_id = new_job_id();
  if (problems.refused() || size == 0) {
    const char* why = problems.oversize    ? "size"
                      : problems.long_line ? "line-length"
                      : problems.nul       ? "nul"
                      : size == 0          ? "empty"
                                           : "bare-cr-or-lf";
    logger()->info("smtp session={} client={} job={} refused reason={} size={}", id_,
                   conn_->remote_ip(), job_id, why, size);
    if (problems.oversize) {
      reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    } else if (problems.long_line) {
      reply(550, "5.6.0", "Message refused: line longer than 1000 octets");
    } else if (problems.nul) {
      reply(550, "5.6.0", "Message refused: NUL octet in message data");
    } else if (size == 0) {
      reply(550, "5.6.0", "Message refused: the message is empty");
    } else {
      reply(550, "5.6.0", "Message refused: bare CR or LF in message data");
    }
    reset_transaction();
    co_return;
  }
  if (listener_.mode == ListenerMode::kInbound) {
    co_await finish_inbound();
    co_return;
  }
  store::SpoolRecord record;
  record.job_id = job_id;
  record.account = account_ ? *account_ : ip_account_.value_or("");
  record.sender = envelope_.sender.address();
  record.received_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  record.flags = (envelope_.smtputf8 ? store::SpoolRecord::kFlagSmtpUtf8 : 0U)
                 | (envelope_.body == BodyType::k8BitMime || problems.eight_bit
                        ? store::SpoolRecord::kFlag8BitMime
                        : 0U);
  record.recipients.reserve(envelope_.recipients.size());
  // Recipients the intake policy drops, and why.
  std::vector<std::pair<store::SpoolRecipient, RecipientDrop>> dropped;
  for (std::uint32_t i = 0; i < envelope_.recipients.size(); ++i) {
    store::SpoolRecipient rcpt{envelope_.recipients[i].address(), mail_id(job_id, 0, i),
                               store::RecipientStatus::kQueued, 0, record.received_ms};
    auto why = ctx_.accounts.recipient_drop(record.account, rcpt.address);
    if (why) {
      dropped.emplace_back(std::move(rcpt), std::move(*why));
    } else {
      record.recipients.push_back(std::move(rcpt));
    }
  }
  // Control fields are for txmail, not the recipients: read, then removed before signing.
  auto [control, control_problem] = mime::extract_control_fields(message_);
  if (!control_problem.empty()) {
    reply(550, "5.6.0", ("Message refused: " + control_problem).c_str());
    reset_transaction();
    co_return;
  }
  co_await seven_bit(record);
  record.message = trace_headers(job_id);
  record.message.append(message_);
  std::string note;
  if (!co_await sign_message(record, note)) {
    logger()->info(
        "smtp session={} client={} job={} refused reason=sender-domain-or-signing account={}", id_,
        conn_->remote_ip(), job_id, record.account);
    reset_transaction();
    co_return;
  }
  // Every recipient suppressed: the job is accepted (each drop is an event), nothing to spool.
  Result<void> stored;
  if (auto why = ctx_.refuse_intake ? ctx_.refuse_intake() : std::nullopt) {
    stored = make_error(ErrorCode::kUnavailable, "intake closed: " + *why);
  } else if (!record.recipients.empty()) {
    if (ctx_.job_data) {
      record.job_data = ctx_.job_data(record, control);
    }
    stored = co_await spool_put(ctx_.spool, record);
  }
  if (!stored && stored.error().code == ErrorCode::kTooLarge) {
    // Never storable as it is (a cluster spool's one message for a job's recipients).
    logger()->info("smtp session={} client={} job={} refused: {}", id_, conn_->remote_ip(), job_id,
                   stored.error().detail);
    reply(552, "5.3.4", "Too many recipients for one message here; send it in smaller groups");
  } else if (!stored) {
    logger()->error("smtp session={} job={} spool failed: {}", id_, job_id, stored.error().detail);
    reply(451, "4.3.0", "Temporary failure, please try again later");
  } else {
    ++messages_;
    if (ctx_.on_job) {
      ctx_.on_job(record, control);
    }
    const std::size_t message_size = record.message.size();
    if (ctx_.on_spooled && !record.recipients.empty()) {
      ctx_.on_spooled(record);  // delivery may take the message
    }
    for (const auto& [rcpt, why] : dropped) {
      if (ctx_.on_dropped) {
        ctx_.on_dropped(record, rcpt, why);
      }
    }
    if (!note.empty() && ctx_.on_note) {
      ctx_.on_note(record, note);
    }
    if (ctx_.events_stored) {
      co_await wait_for_events(ctx_.events_stored);
    }
    ctx_.ack_latency.record(std::chrono::steady_clock::now() - data_end);
    logger()->info(
        "smtp session={} client={} job={} accepted account={} from=<{}> rcpts={} dropped={} "
        "size={} tls={}",
        id_, conn_->remote_ip(), job_id, record.account, printable(record.sender),
        record.recipients.size(), dropped.size(), message_size,
        conn_->tls() ? conn_->tls_version() : "no");
    reply(250, "2.0.0", fmt::format("Ok: queued as {}", job_id).c_str());
  }
  reset_transaction();
}

}  // namespace txmail::smtp
