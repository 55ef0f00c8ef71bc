#include "mime/report.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "mime/entity.h"
#include "mime/headers.h"

namespace txmail::mime {

namespace {

// The field groups of a delivery-status or feedback-report body: lines "Name: value" (folded
// lines joined), groups separated by blank lines; names in lower case.
using Fields = std::map<std::string, std::string>;

std::vector<Fields> field_groups(std::string_view body) {
  std::vector<Fields> groups(1);
  std::string* last = nullptr;
  for (std::size_t pos = 0; pos < body.size() && groups.size() <= kMaxRecipients + 1;) {
    std::size_t end = body.find('\n', pos);
    end = end == std::string_view::npos ? body.size() : end;
    std::string_view line = body.substr(pos, end - pos);
    pos = end + 1;
    if (line.ends_with('\r')) {
      line.remove_suffix(1);
    }
    if (trim(line).empty()) {
      if (!groups.back().empty()) {
        groups.emplace_back();
      }
      last = nullptr;
      continue;
    }
    if ((line.front() == ' ' || line.front() == '\t') && last != nullptr) {
      last->append(" ").append(trim(line));
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      last = nullptr;
      continue;
    }
    auto [it, added] =
        groups.back().emplace(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
    last = added ? &it->second : nullptr;
  }
  if (groups.back().empty()) {
    groups.pop_back();
  }
  return groups;
}

std::string field(const Fields& f, const char* name) {
  const auto it = f.find(name);
  return it == f.end() ? std::string() : it->second;
}

// "rfc822; user@example.org" -> "user@example.org" (the type is not kept).
std::string after_type(std::string_view typed) {
  const std::size_t semi = typed.find(';');
  std::string_view v = trim(semi == std::string_view::npos ? typed : typed.substr(semi + 1));
  if (v.size() >= 2 && v.front() == '<' && v.back() == '>') {
    v = v.substr(1, v.size() - 2);
  }
  return std::string(v);
}

bool digit(char c) {
  return c >= '0' && c <= '9';
}

// The first enhanced status code (RFC 3463, "5.1.1") in a text, else one made of its first
// basic reply code ("550" -> "5.0.0"); "" when it has neither.
std::string status_in(std::string_view text) {
  for (std::size_t i = 0; i + 4 < text.size(); ++i) {
    if ((text[i] != '2' && text[i] != '4' && text[i] != '5') || text[i + 1] != '.'
        || (i > 0 && (digit(text[i - 1]) || text[i - 1] == '.'))) {
      continue;
    }
    std::size_t j = i + 2;
    std::size_t d = 0;
    while (j < text.size() && digit(text[j]) && d < 3) {
      ++j, ++d;
    }
    if (d == 0 || j >= text.size() || text[j] != '.') {
      continue;
    }
    std::size_t k = j + 1;
    std::size_t e = 0;
    while (k < text.size() && digit(text[k]) && e < 3) {
      ++k, ++e;
    }
    if (e > 0 && (k == text.size() || (!digit(text[k]) && text[k] != '.'))) {
      return std::string(text.substr(i, k - i));
    }
  }
  for (std::size_t i = 0; i + 2 < text.size(); ++i) {
    if ((text[i] == '4' || text[i] == '5') && digit(text[i + 1]) && digit(text[i + 2])
        && (i == 0 || !digit(text[i - 1])) && (i + 3 == text.size() || !digit(text[i + 3]))) {
      return std::string(1, text[i]) + ".0.0";
    }
  }
  return {};
}

std::string first_token(std::string_view s) {
  s = trim(s);
  return std::string(s.substr(0, std::min(s.find_first_of(" \t("), s.size())));
}

void read_delivery_status(std::string_view body, Report& r) {
  const auto groups = field_groups(body);
  if (groups.empty()) {
    return;
  }
  r.reporting_mta = after_type(field(groups.front(), "reporting-mta"));
  for (std::size_t g = 1; g < groups.size() && r.recipients.size() < kMaxRecipients; ++g) {
    const Fields& f = groups[g];
    RecipientReport rr;
    rr.recipient = after_type(field(f, "final-recipient"));
    if (rr.recipient.empty()) {
      rr.recipient = after_type(field(f, "original-recipient"));
    }
    if (rr.recipient.empty()) {
      continue;
    }
    rr.action = lower(first_token(field(f, "action")));
    rr.diagnostic = after_type(field(f, "diagnostic-code"));
    rr.status = first_token(field(f, "status"));
    if (rr.status.empty()) {
      rr.status = status_in(rr.diagnostic);
    }
    rr.remote_mta = after_type(field(f, "remote-mta"));
    r.recipients.push_back(std::move(rr));
  }
  r.kind = ReportKind::kDeliveryStatus;
}

void read_feedback(std::string_view body, Report& r) {
  const auto groups = field_groups(body);
  if (groups.empty()) {
    return;
  }
  const Fields& f = groups.front();
  r.feedback_type = lower(first_token(field(f, "feedback-type")));
  if (r.feedback_type.empty()) {
    return;
  }
  r.feedback_agent = field(f, "user-agent");
  r.original_mail_from = after_type(field(f, "original-mail-from"));
  r.original_rcpt_to = after_type(field(f, "original-rcpt-to"));
  r.reporting_mta = after_type(field(f, "reporting-mta"));
  r.kind = ReportKind::kFeedback;
}

// The parts of a multipart/report: the machine-readable one and the returned original.
void read_multipart_report(const Entity& top, std::string_view content_type, Report& r) {
  const std::string report_type = lower(parameter(content_type, "report-type"));
  auto parts = body_parts(top.body, parameter(content_type, "boundary"));
  if (parts.size() > kMaxParts) {
    parts.resize(kMaxParts);
  }
  for (const auto part : parts) {
    const Entity e = split_entity(part);
    const std::string type = media_type(first_value(e.headers, "Content-Type"));
    if ((type == "message/delivery-status" || type == "message/global-delivery-status")
        && report_type != "feedback-report") {
      read_delivery_status(e.body, r);
    } else if (type == "message/feedback-report") {
      read_feedback(e.body, r);
    } else if (type == "message/rfc822" || type == "message/global") {
      r.original_headers = std::string(split_entity(e.body).headers);
    } else if (type == "text/rfc822-headers" || type == "message/global-headers") {
      r.original_headers = std::string(e.body);
    }
  }
}

// The text a person would read: the first text/plain part (at any depth, within bounds), or
// the body of a message that is not multipart; line breaks as LF.
std::string readable_text(const Entity& e, int depth = 0) {
  const std::string ct = first_value(e.headers, "Content-Type");
  const std::string type = ct.empty() ? "text/plain" : media_type(ct);
  std::string text;
  if (type.starts_with("multipart/") && depth < 4) {
    auto parts = body_parts(e.body, parameter(ct, "boundary"));
    for (std::size_t k = 0; k < parts.size() && k < kMaxParts && text.empty(); ++k) {
      text = readable_text(split_entity(parts[k]), depth + 1);
    }
    return text;
  }
  if (type != "text/plain") {
    return {};
  }
  text.reserve(e.body.size());
  std::remove_copy(e.body.begin(), e.body.end(), std::back_inserter(text), '\r');
  return text;
}

bool contains_nocase(std::string_view hay, std::string_view needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                     [](char a, char b) {
                       return std::tolower(static_cast<unsigned char>(a))
                              == std::tolower(static_cast<unsigned char>(b));
                     })
         != hay.end();
}

bool auto_reply(std::string_view headers) {
  const std::string submitted = lower(first_token(first_value(headers, "Auto-Submitted")));
  if (submitted == "auto-replied") {
    return true;
  }
  const std::string precedence = lower(first_value(headers, "Precedence"));
  const std::string subject = first_value(headers, "Subject");
  return has_field(headers, "X-Autoreply") || has_field(headers, "X-Autorespond")
         || precedence == "auto_reply" || contains_nocase(subject, "out of office")
         || subject.starts_with("Automatic reply:") || subject.starts_with("Auto:");
}

}  // namespace

const char* to_string(ReportKind kind) {
  switch (kind) {
    case ReportKind::kDeliveryStatus:
      return "delivery-status";
    case ReportKind::kFeedback:
      return "feedback";
    case ReportKind::kAutoReply:
      return "auto-reply";
    case ReportKind::kPatternBounce:
      return "pattern-bounce";
    case ReportKind::kUnknown:
      break;
  }
  return "unknown";
}

bool RecipientReport::hard() const {
  return status.starts_with('5') && (action.empty() || action == "failed");
}

bool RecipientReport::soft() const {
  return status.starts_with('4') && (action.empty() || action == "failed" || action == "delayed");
}

Report read_report(std::string_view message) {
  Report r;
  const Entity top = split_entity(message);
  const std::string content_type = first_value(top.headers, "Content-Type");
  if (media_type(content_type) == "multipart/report") {
    read_multipart_report(top, content_type, r);
    if (!r.original_headers.empty()) {
      r.original_return_path = after_type(first_value(r.original_headers, "Return-Path"));
    }
    if (r.kind != ReportKind::kUnknown) {
      return r;
    }
  }
  const std::string text = readable_text(top);
  for (const auto& p : bounce_patterns()) {
    if (!std::all_of(p.markers.begin(), p.markers.end(),
                     [&](std::string_view m) { return contains_nocase(text, m); })) {
      continue;
    }
    auto found = p.extract(text);
    if (found.empty()) {
      continue;
    }
    if (found.size() > kMaxRecipients) {
      found.resize(kMaxRecipients);
    }
    for (auto& rr : found) {
      if (rr.status.empty()) {
        rr.status = status_in(rr.diagnostic);
      }
      if (rr.action.empty()) {
        rr.action = "failed";
      }
    }
    r.kind = ReportKind::kPatternBounce;
    r.pattern = p.name;
    r.recipients = std::move(found);
    return r;
  }
  if (auto_reply(top.headers)) {
    r.kind = ReportKind::kAutoReply;
  }
  return r;
}

}  // namespace txmail::mime
