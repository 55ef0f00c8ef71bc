#include "api/sandbox.h"

#include <boost/json.hpp>

#include "api/problem.h"
#include "api/query_params.h"
#include "common/base64.h"
#include "common/duration.h"
#include "mime/entity.h"
#include "mime/quoted_printable.h"
#include "smtp/proto/address.h"

namespace txmail::api {

namespace json = boost::json;

namespace {

constexpr std::size_t kDefaultLimit = 50;
constexpr std::size_t kMaxLimit = 500;
constexpr int kMaxDepth = 8;  // nested multiparts read; deeper ones are shown as one part

struct ListParams {
  store::CaptureQuery query;
  std::vector<FieldError> errors;
};

// limit, cursor and account; anything else, or a name given twice, is an error.
ListParams read_list_params(std::string_view query, const std::string& account) {
  ListParams p;
  p.query.account = account;
  p.query.limit = kDefaultLimit;
  const auto given = read_query(query, {"limit", "cursor", "account"}, p.errors);
  if (const auto it = given.find("limit"); it != given.end()) {
    const auto n = whole_number(it->second);
    if (!n || *n < 1 || *n > static_cast<std::int64_t>(kMaxLimit)) {
      p.errors.push_back({it->first, "a number from 1 to " + std::to_string(kMaxLimit)});
    } else {
      p.query.limit = static_cast<std::size_t>(*n);
    }
  }
  if (const auto it = given.find("cursor"); it != given.end()) {
    const auto n = whole_number(it->second);
    if (!n || *n <= 0) {
      p.errors.push_back({it->first, "not a cursor: pass nextCursor of the previous page"});
    } else {
      p.query.before_seq = *n;
    }
  }
  if (const auto it = given.find("account"); it != given.end()) {
    if (!account.empty() && it->second != account) {
      p.errors.push_back({it->first, "only the admin token may name another account"});
    } else {
      p.query.account = it->second;
    }
  }
  return p;
}

// JSON text must be UTF-8: other bytes (8-bit headers without SMTPUTF8) show as '?'.
std::string printable_text(std::string_view s) {
  std::string out(s);
  if (!smtp::valid_utf8(out)) {
    for (char& c : out) {
      c = static_cast<unsigned char>(c) >= 0x80 ? '?' : c;
    }
  }
  return out;
}

json::object summary(const store::CapturedMessage& m) {
  return json::object{{"mailId", m.mail_id},
                      {"jobId", m.job_id},
                      {"account", m.account},
                      {"from", m.sender},
                      {"to", m.recipient},
                      {"size", m.size},
                      {"capturedTs", iso8601_ms(m.captured_ms)}};
}

// Every header field in order, unfolded (RFC 5322 section 2.2.3), values as they are written
// (encoded words stay encoded).
json::array header_fields(std::string_view headers) {
  json::array out;
  std::string name;
  std::string value;
  auto flush = [&] {
    if (!name.empty()) {
      out.push_back(json::object{{"name", printable_text(name)},
                                 {"value", printable_text(mime::trim(value))}});
    }
    name.clear();
    value.clear();
  };
  while (!headers.empty()) {
    const std::size_t eol = headers.find("\r\n");
    std::string_view line = headers.substr(0, eol);
    headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      value.append(line);  // a folded continuation
      continue;
    }
    flush();
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      name = std::string(mime::trim(line.substr(0, colon)));
      value = std::string(line.substr(colon + 1));
    }
  }
  flush();
  return out;
}

// A leaf part's body decoded by its Content-Transfer-Encoding; nullopt when it does not decode.
std::optional<std::string> decoded(std::string_view body, const std::string& encoding) {
  std::string out;
  if (encoding == "quoted-printable") {
    return mime::decode_quoted_printable(body, out) ? std::optional(out) : std::nullopt;
  }
  if (encoding == "base64") {
    std::string compact;
    for (char c : body) {
      if (c != '\r' && c != '\n' && c != ' ' && c != '\t') {
        compact.push_back(c);
      }
    }
    return base64_decode(compact, out) ? std::optional(out) : std::nullopt;
  }
  return std::string(body);
}

json::object leaf_part(const mime::Entity& e, const std::string& content_type,
                       const std::string& type) {
  std::string encoding = mime::lower(mime::first_value(e.headers, "content-transfer-encoding"));
  if (encoding.empty()) {
    encoding = "7bit";
  }
  const std::string disposition = mime::first_value(e.headers, "content-disposition");
  std::string filename = mime::parameter(disposition, "filename");
  if (filename.empty()) {
    filename = mime::parameter(content_type, "name");
  }
  json::object part{{"contentType", type},
                    {"transferEncoding", printable_text(encoding)},
                    {"size", e.body.size()}};
  if (const std::string charset = mime::parameter(content_type, "charset"); !charset.empty()) {
    part["charset"] = printable_text(charset);
  }
  if (!disposition.empty()) {
    part["disposition"] = printable_text(mime::lower(disposition.substr(0, disposition.find(';'))));
  }
  if (!filename.empty()) {
    part["filename"] = printable_text(filename);
  }
  // Text is shown decoded when it is UTF-8 (US-ASCII included); other parts by size only.
  if (type.starts_with("text/")) {
    if (auto text = decoded(e.body, encoding); text && smtp::valid_utf8(*text)) {
      part["content"] = *text;
    }
  }
  return part;
}

// The leaf parts of an entity in order, multiparts walked (RFC 2046 section 5.1).
void collect_parts(std::string_view entity, int depth, json::array& out) {
  const mime::Entity e = mime::split_entity(entity);
  const std::string content_type = mime::first_value(e.headers, "content-type");
  std::string type = content_type.empty() ? "text/plain" : mime::media_type(content_type);
  const std::string boundary = mime::parameter(content_type, "boundary");
  if (type.starts_with("multipart/") && !boundary.empty() && depth < kMaxDepth) {
    for (const auto part : mime::body_parts(e.body, boundary)) {
      collect_parts(part, depth + 1, out);
    }
    return;
  }
  out.push_back(leaf_part(e, content_type, printable_text(type)));
}

}  // namespace

Response SandboxApi::list(const std::string& query, const std::string& account) {
  ListParams p = read_list_params(query, account);
  if (!p.errors.empty()) {
    return invalid(p.errors);
  }
  auto rows = store_.list(p.query);
  if (!rows) {
    return from_error(rows.error());
  }
  json::array messages;
  for (const auto& m : *rows) {
    messages.push_back(summary(m));
  }
  json::value next = nullptr;
  if (rows->size() == p.query.limit) {
    next = std::to_string(rows->back().seq);
  }
  json::object out{{"messages", std::move(messages)}, {"nextCursor", std::move(next)}};
  return Response{200, "application/json", json::serialize(out), {}};
}

Response SandboxApi::message(const std::string& mail_id, const std::string& account) {
  auto found = store_.get(mail_id);
  if (!found) {
    return from_error(found.error());
  }
  // Another account's capture is as absent as one that never was.
  if (!found->has_value() || (!account.empty() && (*found)->account != account)) {
    return problem(404, "Not Found", "no captured message " + printable_text(mail_id));
  }
  const store::CapturedMessage& m = **found;
  json::object out = summary(m);
  out["envelope"] = json::object{{"from", m.sender}, {"to", json::array{json::value(m.recipient)}}};
  const mime::Entity top = mime::split_entity(m.message);
  out["headers"] = header_fields(top.headers);
  json::array parts;
  collect_parts(m.message, 0, parts);
  out["parts"] = std::move(parts);
  const bool utf8 = smtp::valid_utf8(m.message) && m.message.find('\0') == std::string::npos;
  out["rawEncoding"] = utf8 ? "utf-8" : "base64";
  out["raw"] = utf8 ? m.message : base64_encode(m.message);
  return Response{200, "application/json", json::serialize(out), {}};
}

}  // namespace txmail::api
