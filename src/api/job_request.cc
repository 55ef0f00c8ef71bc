#include "api/job_request.h"

#include <algorithm>
#include <limits>

#include "common/base64.h"
#include "common/idna.h"
#include "common/ids.h"
#include "common/log.h"
#include "mime/headers.h"
#include "mime/quoted_printable.h"
#include "smtp/proto/address.h"

namespace txmail::api::jobreq {

namespace json = boost::json;

bool ieq(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x))
                  == std::tolower(static_cast<unsigned char>(y));
         });
}

namespace {

constexpr std::size_t kMaxNameChars = 256;
constexpr std::size_t kMaxHeaderValue = 900;
constexpr std::size_t kMaxReference = 50;
// Limits on what a request may hold many of: each is copied or rendered per block or per
// message, so they bound what one request can make the node build.
constexpr std::size_t kMaxXHeaders = 50;  // per xHeaders object (the job's, a block's)
constexpr std::size_t kMaxAttachments = 100;

std::string trim(std::string_view s) {
  const std::size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) {
    return {};
  }
  const std::size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// "Name <local@domain>", "<local@domain>" or "local@domain". Returns false when the address
// is not valid (the name and reason are still filled in); idn_error when it is its domain that
// is not a valid IDN: an error of the request (400), never a recipient dropped later.
bool parse_address(std::string_view in, mime::Mailbox& out, std::string& why, bool& idn_error) {
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
  // A domain goes into the envelope and the header fields as its A-label (the composer writes
  // 7-bit); a local part has no ASCII form, so it stays refused (it needs SMTPUTF8).
  if (!idna::is_ascii(parsed->local)) {
    why = "internationalized local parts (RFC 6531) are not accepted over REST";
    out.address = a;
    return false;
  }
  auto domain = idna::to_ascii(parsed->domain);
  if (!domain) {
    why = "the domain of " + printable(a) + " is not a valid internationalized domain name ("
          + domain.error().detail + ")";
    out.address = a;
    idn_error = true;
    return false;
  }
  out.address = parsed->local + "@" + *domain;
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
    if (!mime::decode_quoted_printable(*content, out)) {
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
  if (ieq(charset, "US-ASCII") && std::any_of(out.begin(), out.end(), [](char c) {
        return static_cast<unsigned char>(c) >= 0x80;
      })) {
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
  bool idn_error = false;
  if (!parse_address(*email, m, why, idn_error)) {
    if (idn_error) {
      o->error("email", why);
      return std::nullopt;
    }
    r.drop = tenancy::DropReason::kInvalidAddress;
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
  bool idn_error = false;
  if (!parse_address(*email, m, why, idn_error)) {
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

// xHeaders: {"X-Name": "value", ...}; a name given again (in any case) replaces the job's.
void read_x_headers(JsonObject& mail, Block& b) {
  if (auto x = mail.object("xHeaders"); x && x->raw().size() > kMaxXHeaders) {
    mail.error("xHeaders", "holds " + std::to_string(x->raw().size()) + " headers; at most "
                               + std::to_string(kMaxXHeaders));
  } else if (x) {
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
    bool idn_error = false;
    if (!(value.starts_with("https://") || value.starts_with("http://")
          || value.starts_with("mailto:"))) {
      if (parse_address(value, m, why, idn_error)) {
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
  read_x_headers(mail, b);
}

void read_attachments(JsonObject& top, Job& job) {
  const auto* list = top.array("attachments");
  if (list == nullptr) {
    return;
  }
  if (list->size() > kMaxAttachments) {
    top.error("attachments", "holds " + std::to_string(list->size()) + "; at most "
                                 + std::to_string(kMaxAttachments) + " per job");
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

}  // namespace

// Reads and validates the whole request; errors are collected with their paths.
// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
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
  if (blocks != nullptr && blocks->size() > limits.max_recipients) {
    // Every block takes at least one address: refused before any block copies the job's
    // defaults.
    top.error("recipients", "holds " + std::to_string(blocks->size()) + " blocks; at most "
                                + std::to_string(limits.max_recipients) + " addresses per job");
    blocks = nullptr;
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

}  // namespace txmail::api::jobreq
