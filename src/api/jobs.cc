// POST /v2/jobs: the JobRequest (REFERENCE-API.md section 2.3, DESIGN.md section 6).
//
// Validation first, all of it, with the path of every invalid field: an unknown field, a CR or
// LF in anything that ends up in a header (header injection), a bad sender or attachment fails
// the whole request with 400 and nothing is queued. A recipient whose address is not valid
// does not fail the job: it is DROPPED (INVALID_ADDRESS) with its own event. Then each recipient
// block becomes one MIME message (mime/compose.h), signed with the sender domain's DKIM keys
// and spooled; the answer (202) goes out once every block is synced and the job's events are
// stored, so GET /v2/jobs/{jobId} right after it sees the job.
//
// A job of several blocks is spooled as one spool record per block: the first under the job
// id, the others under block_record_id(jobId, block). Every recipient's mail id names the job
// ("<jobId>#<block hex8>#<index hex8>"), and the events are keyed by it.
#include "api/jobs.h"

#include <openssl/sha.h>

#include <boost/json.hpp>
#include <mutex>
#include <set>

#include "api/job_request.h"
#include "api/json_input.h"
#include "api/strict_json.h"
#include "common/duration.h"
#include "common/ids.h"
#include "common/log.h"
#include "dkim/signature.h"
#include "mime/compose.h"
#include "mime/headers.h"
#include "tenancy/signing_policy.h"

namespace txmail::api {

namespace json = boost::json;

namespace {

using jobreq::Block;
using jobreq::ieq;
using jobreq::Job;
using jobreq::read_job;
using jobreq::Recipient;

std::string message_id_time(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return hex(std::string_view(reinterpret_cast<const char*>(md), sizeof md));
}

class RestJobs final : public JobsApi {
 public:
  explicit RestJobs(JobsDeps deps) : d_(std::move(deps)) {}

  void submit(Request r, HttpServer::Done done) override;

 private:
  void accept(const Request& r, const std::string& job_id, Job& job, HttpServer::Done done);

  JobsDeps d_;
};

void RestJobs::submit(Request r, HttpServer::Done done) {
  if (d_.ack_latency != nullptr) {
    done = [start = std::chrono::steady_clock::now(), hist = d_.ack_latency,
            done = std::move(done)](Response res) {
      // A job accepted now (a replayed answer carries Idempotency-Replayed, not Location).
      if (res.status == 202 && !res.headers.empty() && res.headers.front().first == "Location") {
        hist->record(std::chrono::steady_clock::now() - start);
      }
      done(std::move(res));
    };
  }
  const std::string ctype = r.header("content-type");
  if (!ctype.empty() && !ieq(ctype.substr(0, ctype.find(';')), "application/json")) {
    done(problem(415, "Unsupported Media Type", "send the JobRequest as application/json"));
    return;
  }
  auto parsed = parse_strict_json(r.body);
  if (!parsed.error.empty() || !parsed.value.is_object()) {
    done(problem(400, "Bad Request",
                 !parsed.error.empty() ? parsed.error : "the body must be a JSON object"));
    return;
  }
  json::value v = std::move(parsed.value);
  const std::string key = r.header("idempotency-key");
  if (!key.empty()) {
    if (key.size() > 255 || !mime::header_safe(key)) {
      done(problem(400, "Bad Request", "Idempotency-Key: at most 255 printable characters"));
      return;
    }
    auto claim = d_.idempotency.claim(r.account, key, sha256_hex(r.body));
    if (auto* res = std::get_if<Response>(&claim)) {
      done(std::move(*res));
      return;
    }
  }
  std::vector<FieldError> errors;
  JsonObject top(v.as_object(), "", errors);
  Job job = read_job(top, d_.limits);
  if (!errors.empty()) {
    if (!key.empty()) {
      d_.idempotency.abandon(r.account, key);
    }
    done(invalid(errors));
    return;
  }
  auto finish = [this, account = r.account, key, done = std::move(done)](Response res) {
    if (!key.empty()) {
      if (res.status == 202) {
        d_.idempotency.finish(account, key, res);
      } else {
        d_.idempotency.abandon(account, key);
      }
    }
    done(std::move(res));
  };
  accept(r, new_job_id(), job, std::move(finish));
}

// Everything one request puts in the spool, and how far along it is.
struct Intake {
  std::string job_id;
  std::string account;
  std::vector<store::SpoolRecord> records;
  std::vector<events::Event> events;
  json::array answer;
  std::atomic<std::size_t> pending{0};
  std::atomic<bool> failed{false};
  std::mutex stored_mutex;
  std::vector<std::string> stored;  // the records' ids the spool holds
  HttpServer::Done done;
};

// A job of several blocks that could not be stored whole leaves the spool again: the caller
// hears 503 and retries, which must not send the blocks that were stored a second time. The
// erases are queued, not waited for: in cluster mode an erase waits for the region, which may
// be what refused the job (the blocks were never handed to delivery, so nothing sends them
// meanwhile). An erase that fails is logged: that block is delivered after the next start.
void erase_stored(store::Spool& spool, const std::shared_ptr<Intake>& intake) {
  for (const auto& id : intake->stored) {
    spool.erase(id, [job_id = intake->job_id, id](Result<void> erased) {
      if (!erased) {
        logger()->error("http job={} block {} stays in the spool: {}", job_id, id,
                        erased.error().detail);
      }
    });
  }
}

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
void RestJobs::accept(const Request& r, const std::string& job_id, Job& job,
                      HttpServer::Done done) {
  const auto now = std::chrono::system_clock::now();
  const std::int64_t received = now_ms();
  const std::string domain = mime::address_domain(job.mime_from.address);
  // Refuse a job too big to compose before composing it: each block carries the bodies and
  // every attachment (base64: 4/3 of the bytes, plus line breaks).
  std::size_t per_block = job.text.size() * 3 + job.html.size() * 3 + 8192;
  for (const auto& a : job.attachments) {
    per_block += a.data.size() / 57 * 78 + 78;
  }
  if (per_block * job.blocks.size() > d_.limits.max_job_bytes) {
    done(problem(413, "/problems/message-too-large", "Content Too Large",
                 "the job would compose about " + std::to_string(per_block * job.blocks.size())
                     + " octets in " + std::to_string(job.blocks.size()) + " messages; at most "
                     + std::to_string(d_.limits.max_job_bytes)
                     + ": put recipients who share the content in one block, or send several jobs",
                 {}));
    return;
  }
  const auto decision = tenancy::decide_signing(d_.keyring, d_.accounts, r.account, domain);
  using K = tenancy::SigningDecision::Kind;
  if (decision.kind == K::kRefused) {
    done(problem(403, "/problems/sender-domain", "Forbidden", decision.text, {}));
    return;
  }
  if (decision.kind == K::kUnavailable) {
    logger()->error("http job account={} domain={}: {}", r.account, domain, decision.text);
    done(problem(503, "Service Unavailable",
                 "signing is unavailable for this sender domain, try again later"));
    return;
  }

  // Hosted unsubscribe links name one recipient: only a block with one recipient gets them, in
  // the message signed here (the links are in the DKIM signature's h=).
  const auto account = d_.accounts.find(r.account);
  const Unsubscribes* hosted = account && account->unsubscribe ? d_.unsubscribes : nullptr;
  auto intake = std::make_shared<Intake>();
  intake->job_id = job_id;
  intake->account = r.account;
  const std::string date = mime::rfc5322_date(now);
  events::JobInfo info;
  info.job_id = job_id;
  info.account = r.account;
  info.received_ms = received;
  info.sender = job.envelope_from.address;
  info.mime_from = job.mime_from.address;
  info.reference_job = job.reference_job;
  info.campaign_id = job.campaign_id;
  info.cost_center = job.cost_center;
  if (!job.endpoint.empty() && d_.seal) {
    info.endpoint_sealed = d_.seal(events::to_json(job.endpoint), "endpoint:" + job_id);
  }
  const std::string job_data = d_.job_data_in_spool ? events::job_data(info) : std::string();
  for (std::uint32_t bi = 0; bi < job.blocks.size(); ++bi) {
    Block& b = job.blocks[bi];
    std::uint32_t index = 0;
    std::set<std::string> seen;
    std::vector<Recipient*> all;
    for (auto* list : {&b.to, &b.cc, &b.bcc}) {
      for (auto& rc : *list) {
        rc.mail_id = mail_id(job_id, bi, index++);
        if (!rc.drop) {
          std::string lower = rc.address;
          for (auto& c : lower) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          }
          if (!seen.insert(lower).second) {
            rc.drop = tenancy::DropReason::kValidationError;
            rc.detail = "the address appears twice in this block";
          } else if (auto drop = d_.recipients != nullptr
                                     ? d_.recipients->check(r.account, rc.address, received)
                                     : std::nullopt) {
            rc.drop = drop->reason;
            rc.detail = std::move(drop->detail);
          }
        }
        all.push_back(&rc);
      }
    }
    store::SpoolRecord rec;
    rec.job_id = block_record_id(job_id, bi);
    rec.account = r.account;
    rec.sender = job.envelope_from.address;
    rec.received_ms = received;
    for (Recipient* rc : all) {
      json::object a{{"email", rc->address}, {"mailId", rc->mail_id}};
      events::Event e =
          events::make_event(rc->drop ? events::dropped_kind(*rc->drop) : events::Kind::kStarted);
      e.job_id = job_id;
      e.mail_id = rc->mail_id;
      e.account = r.account;
      e.recipient = rc->address;
      e.sender = job.envelope_from.address;
      e.reply = rc->detail;
      if (!rc->drop) {
        a["status"] = "ACCEPTED";
        rec.recipients.push_back(store::SpoolRecipient{
            rc->address, rc->mail_id, store::RecipientStatus::kQueued, 0, received});
        if (decision.kind == K::kUnsigned) {
          intake->events.push_back(e);
          events::Event note = events::make_event(events::Kind::kProcessed);
          note.job_id = job_id;
          note.mail_id = rc->mail_id;
          note.account = r.account;
          note.recipient = rc->address;
          note.sender = e.sender;
          note.reply = decision.text;
          intake->events.push_back(std::move(note));
          intake->answer.push_back(std::move(a));
          continue;
        }
      } else {
        a["status"] = "DROPPED";
        a["reason"] = std::string(tenancy::drop_sub_type(*rc->drop));
        a["detail"] = rc->detail;
      }
      intake->events.push_back(std::move(e));
      intake->answer.push_back(std::move(a));
    }
    if (rec.recipients.empty()) {
      continue;  // every recipient of the block was dropped
    }
    mime::Composition c;
    c.from = job.mime_from;
    // Visible recipients, except addresses too broken to put in a header.
    for (const auto& rc : b.to) {
      if (rc.drop != tenancy::DropReason::kInvalidAddress) {
        c.to.push_back(mime::Mailbox{rc.name, rc.address});
      }
    }
    for (const auto& rc : b.cc) {
      if (rc.drop != tenancy::DropReason::kInvalidAddress) {
        c.cc.push_back(mime::Mailbox{rc.name, rc.address});
      }
    }
    c.reply_to = b.reply_to;
    c.in_reply_to = b.in_reply_to;
    c.subject = job.subject;
    c.text = job.text;
    c.html = job.html;
    c.attachments = job.attachments;
    c.extra_headers = b.x_headers;
    c.priority = b.priority;
    c.list_unsubscribe = b.list_unsubscribe;
    if (hosted != nullptr && rec.recipients.size() == 1) {
      if (auto links = hosted->links(rec.recipients.front().mail_id)) {
        c.list_unsubscribe = links->https;
        c.list_unsubscribe_mailto = links->mailto;
      }
    }
    c.message_id = message_id_time(now) + "." + rec.recipients.front().mail_id + "@" + d_.hostname;
    c.date = now;
    std::string message = "Received: from [" + r.remote_ip + "]\r\n\tby " + d_.hostname
                          + " (txmail) with " + (r.tls ? "HTTPS" : "HTTP") + "\r\n\tid "
                          + rec.job_id + ";\r\n\t" + date + "\r\n";
    message += mime::compose(c);
    if (message.size() > d_.limits.max_message_bytes) {
      done(problem(413, "/problems/message-too-large", "Content Too Large",
                   "recipients[" + std::to_string(bi) + "]: the composed message is "
                       + std::to_string(message.size()) + " octets; at most "
                       + std::to_string(d_.limits.max_message_bytes),
                   {}));
      return;
    }
    if (decision.kind == K::kSign) {
      auto fields = dkim::sign(message, decision.signing->keys);
      if (!fields) {
        logger()->error("http job={} DKIM signing failed: {}", job_id, fields.error().detail);
        done(problem(503, "Service Unavailable", "signing failed, try again later"));
        return;
      }
      message.insert(0, *fields);
    }
    rec.message = std::move(message);
    rec.job_data = job_data;
    if (auto fits = d_.spool.admits(rec); !fits) {
      done(problem(413, "/problems/too-many-recipients", "Content Too Large",
                   "recipients[" + std::to_string(bi) + "]: " + fits.error().detail, {}));
      return;
    }
    intake->records.push_back(std::move(rec));
  }

  intake->done = std::move(done);
  d_.events.append_job(std::move(info));
  auto respond = [this, intake] {
    // Delivery hears of the job only now: its STARTED events come first in the log.
    for (auto& rec : intake->records) {
      if (d_.on_spooled) {
        d_.on_spooled(rec);
      }
    }
    std::size_t accepted = 0;
    for (const auto& rec : intake->records) {
      accepted += rec.recipients.size();
    }
    logger()->info("http job={} accepted account={} blocks={} rcpts={} dropped={}", intake->job_id,
                   intake->account, intake->records.size(), accepted,
                   intake->answer.size() - accepted);
    json::object out{{"jobId", intake->job_id}, {"recipients", std::move(intake->answer)}};
    Response res{202, "application/json", json::serialize(out), {}};
    res.headers.emplace_back("Location", "/v2/jobs/" + intake->job_id);
    intake->done(std::move(res));
  };
  if (intake->records.empty()) {
    d_.events.append_all(std::move(intake->events), respond);
    return;
  }
  intake->pending = intake->records.size();
  for (const auto& rec : intake->records) {
    d_.spool.put(rec, [this, intake, respond, id = rec.job_id](Result<void> stored) {
      if (!stored) {
        logger()->error("http job={} spool failed: {}", intake->job_id, stored.error().detail);
        intake->failed = true;
      } else {
        const std::lock_guard lock(intake->stored_mutex);
        intake->stored.push_back(id);
      }
      if (intake->pending.fetch_sub(1) != 1) {
        return;
      }
      if (intake->failed) {
        // The spool refuses writes when it is closing or its disk fails, and in cluster mode
        // while the region does not store what it is given (on_quorum_loss = "refuse"). The
        // blocks that were stored leave it again; the caller hears of a failure, and its retry
        // is a new job.
        erase_stored(d_.spool, intake);
        Response res =
            problem(503, "Service Unavailable", "the job could not be stored, try again");
        res.headers.emplace_back("Retry-After", "30");
        intake->done(std::move(res));
        return;
      }
      d_.events.append_all(std::move(intake->events), respond);
    });
  }
}

}  // namespace

std::unique_ptr<JobsApi> make_jobs_api(JobsDeps deps) {
  return std::make_unique<RestJobs>(std::move(deps));
}

}  // namespace txmail::api
