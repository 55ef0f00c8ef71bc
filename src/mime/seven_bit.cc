#include "mime/seven_bit.h"

#include <algorithm>
#include <vector>

#include "mime/compose.h"
#include "mime/entity.h"
#include "mime/headers.h"

namespace txmail::mime {

namespace {

// Well-formed UTF-8 (RFC 3629), for the charset of a body that names none.
bool utf8_text(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t len = c < 0x80                 ? 1
                            : c >= 0xc2 && c <= 0xdf ? 2
                            : c >= 0xe0 && c <= 0xef ? 3
                            : c >= 0xf0 && c <= 0xf4 ? 4
                                                     : 0;
    if (len == 0 || i + len > s.size()) {
      return false;
    }
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) {
        return false;
      }
    }
    i += len;
  }
  return true;
}

// The header section without the field `name` (and its folded continuation lines).
std::string without_field(std::string_view headers, std::string_view name) {
  std::string out;
  bool dropping = false;
  for (std::size_t pos = 0; pos < headers.size();) {
    std::size_t end = headers.find("\r\n", pos);
    end = end == std::string_view::npos ? headers.size() : end + 2;
    const std::string_view line = headers.substr(pos, end - pos);
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      if (!dropping) {
        out.append(line);
      }
    } else {
      const std::size_t colon = line.find(':');
      dropping = colon != std::string_view::npos && lower(trim(line.substr(0, colon))) == name;
      if (!dropping) {
        out.append(line);
      }
    }
    pos = end;
  }
  return out;
}

std::optional<std::string> convert_entity(std::string_view entity, bool top);

// A multipart body with each part converted; nullopt when one part cannot be.
std::optional<std::string> convert_multipart(std::string_view body, std::string_view boundary) {
  const auto marks = delimiters(body, boundary);
  if (marks.empty() || !seven_bit_clean(body.substr(0, marks.front().start))) {
    return std::nullopt;
  }
  std::string out(body.substr(0, marks.front().start));
  for (std::size_t k = 0; k < marks.size(); ++k) {
    out.append(body.substr(marks[k].start, marks[k].end - marks[k].start));
    if (marks[k].close) {
      const std::string_view epilogue = body.substr(marks[k].end);
      if (!seven_bit_clean(epilogue)) {
        return std::nullopt;
      }
      out.append(epilogue);
      break;
    }
    const std::size_t next = k + 1 < marks.size() ? marks[k + 1].start : body.size();
    // The CRLF before a delimiter belongs to the delimiter, not to the part (RFC 2046 5.1.1).
    const bool crlf = k + 1 < marks.size() && next >= marks[k].end + 2;
    const std::size_t stop = crlf ? next - 2 : next;
    auto part = convert_entity(body.substr(marks[k].end, stop - marks[k].end), false);
    if (!part) {
      return std::nullopt;
    }
    out.append(*part).append(crlf ? "\r\n" : "");
  }
  return out;
}

// A leaf's body re-encoded, with its header fields saying how.
std::string encode_leaf(std::string_view headers, std::string_view body, bool top) {
  const std::string content_type = first_value(headers, "Content-Type");
  const std::string type = content_type.empty() ? "text/plain" : media_type(content_type);
  const bool text = type.starts_with("text/");
  std::string out = without_field(headers, "content-transfer-encoding");
  if (top && !has_field(headers, "MIME-Version")) {
    out += "MIME-Version: 1.0\r\n";
  }
  if (content_type.empty()) {
    // The default (text/plain; charset=us-ascii) would be wrong for 8-bit text.
    out += std::string("Content-Type: text/plain; charset=")
           + (utf8_text(body) ? "utf-8" : "unknown-8bit") + "\r\n";
  }
  out += text ? "Content-Transfer-Encoding: quoted-printable\r\n"
              : "Content-Transfer-Encoding: base64\r\n";
  out += "\r\n";
  if (text) {
    out += quoted_printable(body);
  } else {
    std::string b = base64_lines(body);
    if (b.ends_with("\r\n")) {
      b.resize(b.size() - 2);  // the part's last line break is the delimiter's
    }
    out += b;
  }
  return out;
}

std::optional<std::string> convert_entity(std::string_view entity, bool top) {
  if (seven_bit_clean(entity)) {
    return std::string(entity);
  }
  const Entity e = split_entity(entity);
  if (!seven_bit_clean(e.headers)) {
    return std::nullopt;  // RFC 6532 header fields: for SMTPUTF8 servers only, kept as sent
  }
  const std::string content_type = first_value(e.headers, "Content-Type");
  const std::string type = content_type.empty() ? "text/plain" : media_type(content_type);
  const std::string cte = lower(first_value(e.headers, "Content-Transfer-Encoding"));
  if (type.starts_with("multipart/")) {
    const std::string boundary = parameter(content_type, "boundary");
    auto body = boundary.empty() ? std::nullopt : convert_multipart(e.body, boundary);
    if (!body) {
      return std::nullopt;
    }
    return std::string(e.headers) + "\r\n" + *body;
  }
  if (type == "message/rfc822") {
    auto inner = convert_entity(e.body, false);
    if (!inner) {
      return std::nullopt;
    }
    std::string headers = without_field(e.headers, "content-transfer-encoding");
    return headers + "Content-Transfer-Encoding: 7bit\r\n\r\n" + *inner;
  }
  if (type.starts_with("message/") || cte == "base64" || cte == "quoted-printable") {
    return std::nullopt;  // encoded already, or a type that may not be encoded: damaged
  }
  return encode_leaf(e.headers, e.body, top);
}

}  // namespace

bool seven_bit_clean(std::string_view data) {
  return std::none_of(data.begin(), data.end(),
                      [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

std::optional<std::string> to_seven_bit(std::string_view message) {
  if (seven_bit_clean(message)) {
    return std::nullopt;
  }
  auto converted = convert_entity(message, true);
  if (!converted || !seven_bit_clean(*converted)) {
    return std::nullopt;
  }
  return converted;
}

}  // namespace txmail::mime
