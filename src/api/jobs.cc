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
#include <set>

#include "api/json_input.h"
#include "common/base64.h"
#include "common/duration.h"
#include "common/ids.h"
#include "common/log.h"
#include "dkim/signature.h"
#include "mime/compose.h"
#include "mime/headers.h"
#include "smtp/proto/address.h"
#include "tenancy/signing_policy.h"

namespace txmail::api {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxNameChars = 256;
constexpr std::size_t kMaxHeaderValue = 900;
constexpr std::size_t kMaxReference = 50;

struct Recipient {
  std::string address;  // valid: the addr-spec; else what was given
  std::string name;
  std::string drop;  // empty: accepted; else a DROPPED subType
  std::string detail;
  std::string mail_id;
};

struct Block {
  std::vector<Recipient> to;
  std::vector<Recipient> cc;
  std::vector<Recipient> bcc;
  std::vector<mime::Mailbox> reply_to;
  std::string in_reply_to;
  std::string list_unsubscribe;
  mime::Priority priority = mime::Priority::kNone;
  std::vector<std::pair<std::string, std::string>> x_headers;
};

struct Job {
  mime::Mailbox envelope_from;
  mime::Mailbox mime_from;
  std::string subject;
  std::string text;
  std::string html;
  std::vector<mime::Attachment> attachments;
  std::vector<Block> blocks;
  // Job-level defaults for the blocks.
  Block defaults;
  std::string reference_job;
  std::string campaign_id;
  std::string cost_center;
  events::Endpoint endpoint;
};

bool ieq(std::string_view a, std::string_view b) {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
              return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
            });
}

std::string trim(std::string_view s) {
  const std::size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) {
    return {};
  }
  const std::size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// "Name <local@domain>", "<local@domain>" or "local@domain". Returns false when the address
// is not valid (the name and reason are still filled in).
bool parse_address(std::string_view in, mime::Mailbox& out, std::string& why) {
  std::string_view addr = in;
  out.name.clear();
  const std::size_t lt = in.rfind('<');
  if (lt != std::string_view::npos && !in.empty() && in.back() == '>') {
    addr = in.substr(lt + 1, in.size() - lt - 2);
    std::string name = trim(in.substr(0, lt));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      std::string unq;
      for (std::size_t i = 1; i + 1 < name.size(); ++i) {
        if (name[i] == '\\' && i + 2 < name.size()) {
          ++i;
        }
        unq.push_back(name[i]);
      }
      name = std::move(unq);
    }
    out.name = std::move(name);
  }
  const std::string a = trim(addr);
  auto parsed = smtp::parse_mailbox(a);
  if (!parsed) {
    why = "not a valid email address: " + printable(a);
    out.address = a;
    return false;
  }
  if (parsed->utf8) {
    why = "internationalized addresses (RFC 6531) are not accepted over REST";
    out.address = a;
    return false;
  }
  out.address = parsed->address();
  return true;
}

bool token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0
         || std::string_view("!#$&-^_.+").find(c) != std::string_view::npos;
}

bool valid_content_type(std::string_view t) {
  const std::size_t slash = t.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == t.size() || t.size() > 127) {
    return false;
  }
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (i != slash && !token_char(t[i])) {
      return false;
    }
  }
  return !t.starts_with("multipart/") && !t.starts_with("message/");
}


// Base64 that may be broken into lines (CR LF or LF).
bool decode_base64_lines(std::string_view in, std::string& out) {
  std::string compact;
  compact.reserve(in.size());
  for (char c : in) {
    if (c != '\r' && c != '\n') {
      compact.push_back(c);
    }
  }
  return base64_decode(compact, out);
}

bool decode_qp(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '=') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 1 < in.size() && (in[i + 1] == '\n' || in[i + 1] == '\r')) {
      i += (in[i + 1] == '\r' && i + 2 < in.size() && in[i + 2] == '\n') ? 2 : 1;
      continue;
    }
    if (i + 2 >= in.size() || hex_value(in[i + 1]) < 0 || hex_value(in[i + 2]) < 0) {
      return false;
    }
    out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
    i += 2;
  }
  return true;
}

// `content` with `contentEncoding` (plain, base64, quoted-printable) and `charset` (UTF-8 or
// US-ASCII: JSON text is Unicode) applied; nullopt after an error.
std::optional<std::string> read_text(JsonObject& o, std::size_t max_chars) {
  auto content = o.string("content", true, max_chars);
  const auto encoding = o.string("contentEncoding", false, 32).value_or("plain");
  const auto charset = o.string("charset", false, 32).value_or("UTF-8");
  if (!ieq(charset, "UTF-8") && !ieq(charset, "US-ASCII")) {
    o.error("charset", "only UTF-8 and US-ASCII are supported (JSON text is Unicode)");
    return std::nullopt;
  }
  if (!content) {
    return std::nullopt;
  }
  std::string out;
  if (ieq(encoding, "plain")) {
    out = std::move(*content);
  } else if (ieq(encoding, "base64")) {
    if (!decode_base64_lines(*content, out)) {
      o.error("content", "is not valid base64");
      return std::nullopt;
    }
  } else if (ieq(encoding, "quoted-printable")) {
    if (!decode_qp(*content, out)) {
      o.error("content", "is not valid quoted-printable");
      return std::nullopt;
    }
  } else {
    o.error("contentEncoding", "must be plain, base64 or quoted-printable");
    return std::nullopt;
  }
  if (!smtp::valid_utf8(out) || out.find('\0') != std::string::npos) {
    o.error("content", "is not valid UTF-8 text");
    return std::nullopt;
  }
  if (ieq(charset, "US-ASCII")
      && std::any_of(out.begin(), out.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
    o.error("content", "holds non-ASCII characters but charset is US-ASCII");
    return std::nullopt;
  }
  return out;
}

// The "email" of {"email": "Name <addr>"}, the object's only field; a CR or LF is a header
// injection attempt: an error of the request.
std::optional<std::string> read_email(JsonObject& o) {
  auto email = o.string("email", true, kMaxNameChars);
  o.finish();
  if (email && !mime::header_safe(*email)) {
    o.error("email", "contains CR, LF or NUL");
    return std::nullopt;
  }
  return email;
}

// {"email": "Name <addr>"}: a recipient (dropped when its address is invalid). A CR or LF is
// a header injection attempt: an error of the request.
std::optional<Recipient> read_recipient(JsonObject& parent, std::string_view key,
                                        const json::value& v, std::size_t i) {
  auto o = parent.element(key, v, i);
  if (!o) {
    return std::nullopt;
  }
  auto email = read_email(*o);
  if (!email) {
    return std::nullopt;
  }
  Recipient r;
  mime::Mailbox m;
  std::string why;
  if (!parse_address(*email, m, why)) {
    r.drop = "INVALID_ADDRESS";
    r.detail = why;
  }
  r.address = m.address;
  r.name = m.name;
  return r;
}

void read_recipients(JsonObject& mail, std::string_view key, std::vector<Recipient>& out) {
  const auto* list = mail.array(key);
  if (list == nullptr) {
    return;
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    if (auto r = read_recipient(mail, key, (*list)[i], i)) {
      out.push_back(std::move(*r));
    }
  }
}

// {"email": "..."} that must be a valid address (senders, reply-to).
std::optional<mime::Mailbox> read_mailbox(JsonObject& parent, std::string_view key) {
  auto o = parent.object(key);
  if (!o) {
    return std::nullopt;
  }
  auto email = read_email(*o);
  if (!email) {
    return std::nullopt;
  }
  mime::Mailbox m;
  std::string why;
  if (!parse_address(*email, m, why)) {
    o->error("email", why);
    return std::nullopt;
  }
  return m;
}

std::optional<std::string> header_string(JsonObject& o, std::string_view key, std::size_t max) {
  auto s = o.string(key, false, max);
  if (s && !mime::header_safe(*s)) {
    o.error(key, "contains CR, LF or NUL");
    return std::nullopt;
  }
  return s;
}

void read_features(JsonObject& parent) {
  auto f = parent.object("features");
  if (!f) {
    return;
  }
  for (const char* name : {"openTracking", "linkTracking"}) {
    if (auto t = f->object(name)) {
      if (t->boolean("active").value_or(false)) {
        t->error("active", "tracking is not supported by txmail");
      }
      t->finish();
    }
  }
  f->finish();
}

// The fields a block and the job-level `mail` share: replyTo, inReplyTo, priority,
// listUnsubscribe, xHeaders. Values already in `b` (the job's defaults) are replaced.
void read_mail_options(JsonObject& mail, Block& b) {
  if (auto r = read_mailbox(mail, "replyTo")) {
    b.reply_to = {*r};
  }
  if (auto v = header_string(mail, "inReplyTo", 900)) {
    std::string id = *v;
    if (id.size() >= 2 && id.front() == '<' && id.back() == '>') {
      id = id.substr(1, id.size() - 2);
    }
    const bool ok = !id.empty() && id.find_first_of("<> \t\"") == std::string::npos
                    && std::all_of(id.begin(), id.end(), [](char c) { return c > 32 && c < 127; });
    if (!ok) {
      mail.error("inReplyTo", "must be a message id");
    } else {
      b.in_reply_to = id;
    }
  }
  if (auto p = mail.string("priority", false, 16)) {
    if (ieq(*p, "HIGH")) {
      b.priority = mime::Priority::kHigh;
    } else if (ieq(*p, "NORMAL")) {
      b.priority = mime::Priority::kNormal;
    } else if (ieq(*p, "LOW")) {
      b.priority = mime::Priority::kLow;
    } else {
      mail.error("priority", "must be HIGH, NORMAL or LOW");
    }
  }
  if (auto u = header_string(mail, "listUnsubscribe", 900)) {
    std::string value = *u;
    mime::Mailbox m;
    std::string why;
    if (!(value.starts_with("https://") || value.starts_with("http://") || value.starts_with("mailto:"))) {
      if (parse_address(value, m, why)) {
        value = "mailto:" + m.address;
      } else {
        value.clear();
      }
    }
    if (value.empty() || value.find_first_of("<> \t\"") != std::string::npos
        || !std::all_of(value.begin(), value.end(), [](char c) { return c > 32 && c < 127; })) {
      mail.error("listUnsubscribe", "must be an https:, http: or mailto: URL, or an email address");
    } else {
      b.list_unsubscribe = value;
    }
  }
  if (auto x = mail.object("xHeaders")) {
    for (const auto& kv : x->raw()) {
      const std::string name(kv.key());
      const auto* v = x->get(name);
      if (v == nullptr) {
        continue;
      }
      if (!mime::valid_field_name(name) || !(name.size() > 2 && ieq(name.substr(0, 2), "X-"))) {
        x->error(name, "is not a valid header name: X- and printable ASCII without ':'");
        continue;
      }
      if (ieq(name.substr(0, std::min<std::size_t>(name.size(), 9)), "X-TXMAIL-")
          || ieq(name.substr(0, std::min<std::size_t>(name.size(), 11)), "X-RETARUS-")) {
        x->error(name, "control headers are for SMTP; use the job's fields");
        continue;
      }
      if (!v->is_string() || v->as_string().empty()) {
        x->error(name, "must be a non-empty string");
        continue;
      }
      const std::string value(v->as_string());
      if (!mime::header_safe(value)) {
        x->error(name, "contains CR, LF or NUL");
      } else if (JsonObject::utf8_chars(value) > kMaxHeaderValue) {
        x->error(name, "is longer than 900 characters");
      } else {
        std::erase_if(b.x_headers, [&](const auto& h) { return ieq(h.first, name); });
        b.x_headers.emplace_back(name, value);
      }
    }
  }
}

void read_attachments(JsonObject& top, Job& job) {
  const auto* list = top.array("attachments");
  if (list == nullptr) {
    return;
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto a = top.element("attachments", (*list)[i], i);
    if (!a) {
      continue;
    }
    mime::Attachment att;
    auto name = header_string(*a, "name", 255);
    if (name && !smtp::valid_utf8(*name)) {
      a->error("name", "is not valid UTF-8");
      name.reset();
    }
    if (!name && a->raw().if_contains("name") == nullptr) {
      a->error("name", "is required");
    }
    auto type = a->string("contentType", false, 127).value_or("application/octet-stream");
    if (!valid_content_type(type)) {
      a->error("contentType", "must be a MIME type/subtype (not multipart or message)");
    }
    const auto* content = a->get("content");
    std::string data;
    if (content == nullptr || !content->is_string()) {
      a->error("content", content == nullptr ? "is required" : "must be a base64 string");
    } else {
      if (!decode_base64_lines(content->as_string(), data)) {
        a->error("content", "is not valid base64");
      }
    }
    if (auto cid = a->string("contentId", false, 200)) {
      if (cid->find_first_of("<>\r\n \t\"") != std::string::npos
          || !std::all_of(cid->begin(), cid->end(), [](char c) { return c > 32 && c < 127; })) {
        a->error("contentId", "must be printable ASCII without spaces or angle brackets");
      } else {
        att.content_id = *cid;
      }
    }
    a->string("secureDocument", false, 8);  // compatibility: accepted, has no effect
    a->finish();
    att.name = name.value_or("");
    att.content_type = type;
    att.data = std::move(data);
    job.attachments.push_back(std::move(att));
  }
}

// Reads and validates the whole request; errors are collected with their paths.
Job read_job(JsonObject& top, const JobLimits& limits) {
  Job job;
  // subject: {"content", "charset", "contentEncoding"} (or a plain string).
  if (const auto* s = top.raw().if_contains("subject"); s != nullptr && s->is_string()) {
    job.subject = header_string(top, "subject", limits.max_subject_chars).value_or("");
  } else if (auto subject = top.object("subject", true)) {
    if (auto text = read_text(*subject, limits.max_subject_chars)) {
      if (!mime::header_safe(*text)) {
        subject->error("content", "contains CR, LF or NUL");
      } else if (JsonObject::utf8_chars(*text) > limits.max_subject_chars) {
        subject->error("content", "is longer than 500 characters");
      } else {
        job.subject = std::move(*text);
      }
    }
    subject->finish();
  }
  // body and alternative.
  std::string body_type;
  if (auto body = top.object("body")) {
    body_type = body->string("contentType", true, 32).value_or("");
    if (!body_type.empty() && !ieq(body_type, "text/plain") && !ieq(body_type, "text/html")) {
      body->error("contentType", "must be text/plain or text/html");
    }
    auto text = read_text(*body, std::numeric_limits<std::size_t>::max());
    body->string("contentTransferEncoding", false, 32);  // txmail chooses the encoding
    body->finish();
    if (text) {
      (ieq(body_type, "text/html") ? job.html : job.text) = std::move(*text);
    }
  }
  if (auto alt = top.object("alternative")) {
    auto text = read_text(*alt, std::numeric_limits<std::size_t>::max());
    alt->string("contentTransferEncoding", false, 32);
    alt->finish();
    // As the reference service: a text/plain body makes the alternative unused.
    if (text && !ieq(body_type, "text/plain")) {
      job.text = std::move(*text);
    }
  }
  read_attachments(top, job);
  // Job-level mail: senders and defaults.
  if (auto mail = top.object("mail", true)) {
    auto from = read_mailbox(*mail, "from");
    auto mime_from = read_mailbox(*mail, "mimeFrom");
    if (!from && !mime_from && mail->raw().if_contains("from") == nullptr
        && mail->raw().if_contains("mimeFrom") == nullptr) {
      mail->error("from", "a sender is required (from, mimeFrom or both)");
    }
    job.envelope_from = from ? *from : mime_from.value_or(mime::Mailbox{});
    job.mime_from = mime_from ? *mime_from : from.value_or(mime::Mailbox{});
    read_mail_options(*mail, job.defaults);
    mail->finish();
  }
  if (auto j = top.object("job")) {
    job.reference_job = header_string(*j, "referenceJob", kMaxReference).value_or("");
    job.campaign_id = header_string(*j, "campaignId", kMaxReference).value_or("");
    job.cost_center = header_string(*j, "costCenter", kMaxReference).value_or("");
    read_features(*j);
    j->object("options");
    j->finish();
  }
  if (auto n = top.object("notification")) {
    if (auto ep = n->object("endPoint")) {
      auto url = header_string(*ep, "url", 1000);
      if (url && !(url->starts_with("https://") || url->starts_with("http://"))) {
        ep->error("url", "must be an http or https URL");
      }
      if (!url && ep->raw().if_contains("url") == nullptr) {
        ep->error("url", "is required");
      }
      job.endpoint.url = url.value_or("");
      if (auto headers = ep->object("headers")) {
        std::size_t total = 0;
        for (const auto& kv : headers->raw()) {
          const std::string name(kv.key());
          auto value = header_string(*headers, name, 1000);
          if (!mime::valid_field_name(name)) {
            headers->error(name, "is not a valid header name");
          } else if (value) {
            job.endpoint.headers.emplace_back(name, *value);
          }
          total += name.size() + value.value_or("").size();
        }
        if (total > 1000) {
          ep->error("headers", "names and values together are over 1000 characters");
        }
        headers->finish();
      }
      if (auto auth = ep->object("authentication")) {
        auto method = auth->string("method", true, 16);
        if (method && !ieq(*method, "BASIC")) {
          auth->error("method", "must be BASIC");
        }
        job.endpoint.user = header_string(*auth, "user", 256).value_or("");
        job.endpoint.password = header_string(*auth, "password", 256).value_or("");
        auth->finish();
      }
      ep->finish();
    }
    n->finish();
  }
  // recipients: blocks.
  const auto* blocks = top.array("recipients", true);
  if (blocks != nullptr && blocks->empty()) {
    top.error("recipients", "must hold at least one recipient block");
  }
  std::size_t total = 0;
  for (std::size_t i = 0; blocks != nullptr && i < blocks->size(); ++i) {
    auto b = top.element("recipients", (*blocks)[i], i);
    if (!b) {
      continue;
    }
    Block block = job.defaults;
    if (auto mail = b->object("mail", true)) {
      read_recipients(*mail, "to", block.to);
      read_recipients(*mail, "cc", block.cc);
      read_recipients(*mail, "bcc", block.bcc);
      read_mail_options(*mail, block);
      mail->finish();
    }
    header_string(*b, "reference", kMaxReference);
    read_features(*b);
    b->finish();
    const std::size_t n = block.to.size() + block.cc.size() + block.bcc.size();
    if (n == 0 && b->errors().empty()) {
      b->error("mail", "a block needs at least one recipient in to, cc or bcc");
    }
    total += n;
    job.blocks.push_back(std::move(block));
  }
  if (total > limits.max_recipients) {
    top.error("recipients", "holds " + std::to_string(total) + " addresses; at most "
                                + std::to_string(limits.max_recipients) + " per job");
  }
  top.finish();
  return job;
}

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

events::Kind drop_kind(const std::string& sub_type) {
  if (sub_type == "INVALID_ADDRESS") {
    return events::Kind::kDroppedInvalidAddress;
  }
  if (sub_type == "PREVIOUSLY_BOUNCED") {
    return events::Kind::kDroppedPreviouslyBounced;
  }
  if (sub_type == "FORBIDDEN_RECIPIENT") {
    return events::Kind::kDroppedForbidden;
  }
  return events::Kind::kDroppedValidation;
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
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object()) {
    done(problem(400, "Bad Request", ec ? "the body is not valid JSON: " + ec.message()
                                         : "the body must be a JSON object"));
    return;
  }
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
  HttpServer::Done done;
};

void RestJobs::accept(const Request& r, const std::string& job_id, Job& job, HttpServer::Done done) {
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
    done(problem(503, "Service Unavailable", "signing is unavailable for this sender domain, try again later"));
    return;
  }

  auto intake = std::make_shared<Intake>();
  intake->job_id = job_id;
  intake->account = r.account;
  const std::string date = mime::rfc5322_date(now);
  for (std::uint32_t bi = 0; bi < job.blocks.size(); ++bi) {
    Block& b = job.blocks[bi];
    std::uint32_t index = 0;
    std::set<std::string> seen;
    std::vector<Recipient*> all;
    for (auto* list : {&b.to, &b.cc, &b.bcc}) {
      for (auto& rc : *list) {
        rc.mail_id = mail_id(job_id, bi, index++);
        if (rc.drop.empty()) {
          std::string lower = rc.address;
          for (auto& c : lower) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          }
          if (!seen.insert(lower).second) {
            rc.drop = "VALIDATION_ERROR";
            rc.detail = "the address appears twice in this block";
          } else if (d_.suppressions != nullptr && d_.suppressions->forbidden(rc.address)) {
            rc.drop = "FORBIDDEN_RECIPIENT";
            rc.detail = "role addresses are not sent to";
          } else if (auto s = d_.suppressions != nullptr
                                  ? d_.suppressions->find(r.account, rc.address, received)
                                  : std::nullopt) {
            // Suppressed: dropped, and the entry lives on from now (renewal is best effort).
            rc.drop = "PREVIOUSLY_BOUNCED";
            rc.detail = tenancy::describe(*s);
            if (auto renewed = d_.suppressions->renew(*s, received); !renewed) {
              logger()->warn("suppression renewal of {} failed: {}", rc.address, renewed.error().detail);
            }
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
      events::Event e = events::make_event(rc->drop.empty() ? events::Kind::kStarted : drop_kind(rc->drop));
      e.job_id = job_id;
      e.mail_id = rc->mail_id;
      e.account = r.account;
      e.recipient = rc->address;
      e.sender = job.envelope_from.address;
      e.reply = rc->detail;
      if (rc->drop.empty()) {
        a["status"] = "ACCEPTED";
        rec.recipients.push_back(store::SpoolRecipient{rc->address, rc->mail_id,
                                                       store::RecipientStatus::kQueued, 0, received});
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
        a["reason"] = rc->drop;
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
      if (rc.drop != "INVALID_ADDRESS") {
        c.to.push_back(mime::Mailbox{rc.name, rc.address});
      }
    }
    for (const auto& rc : b.cc) {
      if (rc.drop != "INVALID_ADDRESS") {
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
    c.message_id = message_id_time(now) + "." + rec.recipients.front().mail_id + "@" + d_.hostname;
    c.date = now;
    std::string message = "Received: from [" + r.remote_ip + "]\r\n\tby " + d_.hostname
                          + " (txmail) with " + (r.tls ? "HTTPS" : "HTTP") + "\r\n\tid " + rec.job_id
                          + ";\r\n\t" + date + "\r\n";
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
    intake->records.push_back(std::move(rec));
  }

  intake->done = std::move(done);
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
  d_.events.append_job(std::move(info));
  auto respond = [this, intake] {
    // Delivery hears of the job only now: its STARTED events come first in the log.
    for (const auto& rec : intake->records) {
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
    d_.spool.put(rec, [this, intake, respond](Result<void> stored) {
      if (!stored) {
        logger()->error("http job={} spool failed: {}", intake->job_id, stored.error().detail);
        intake->failed = true;
      }
      if (intake->pending.fetch_sub(1) != 1) {
        return;
      }
      if (intake->failed) {
        // The spool refuses writes only when it is closing or its disk fails. Blocks that
        // were stored are delivered after the next start (at least once); the caller hears of
        // a failure, and its retry is a new job.
        intake->done(problem(503, "Service Unavailable", "the job could not be stored, try again"));
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
