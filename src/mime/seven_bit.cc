#include "mime/seven_bit.h"

#include <algorithm>
#include <vector>

#include "mime/compose.h"
#include "mime/headers.h"

namespace txmail::mime {

namespace {

struct Entity {
  std::string_view headers;  // every field line with its CRLF; empty when there is none
  std::string_view body;
};

Entity split_entity(std::string_view e) {
  if (e.starts_with("\r\n")) {
    return {{}, e.substr(2)};
  }
  const std::size_t k = e.find("\r\n\r\n");
  if (k == std::string_view::npos) {
    return {e, {}};
  }
  return {e.substr(0, k + 2), e.substr(k + 4)};
}

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

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  });
  return out;
}

std::string_view trim(std::string_view s) {
  const std::size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) {
    return {};
  }
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// The first value of a field, or "" when the field is absent.
std::string first_value(std::string_view headers, std::string_view name) {
  const auto values = field_values(headers, name);
  return values.empty() ? std::string() : std::string(trim(values.front()));
}

// The media type of a Content-Type value, lower case ("text/plain").
std::string media_type(std::string_view content_type) {
  return lower(trim(content_type.substr(0, content_type.find(';'))));
}

// A parameter of a Content-Type value (RFC 2045 section 5.1), unquoted; "" when absent.
std::string parameter(std::string_view content_type, std::string_view name) {
  std::size_t pos = content_type.find(';');
  while (pos != std::string_view::npos) {
    std::string_view rest = content_type.substr(pos + 1);
    const std::size_t eq = rest.find('=');
    if (eq == std::string_view::npos) {
      return {};
    }
    const bool match = lower(trim(rest.substr(0, eq))) == name;
    rest = trim(rest.substr(eq + 1));
    std::string value;
    std::size_t used = 0;
    if (!rest.empty() && rest.front() == '"') {
      for (used = 1; used < rest.size() && rest[used] != '"'; ++used) {
        if (rest[used] == '\\' && used + 1 < rest.size()) {
          ++used;
        }
        value.push_back(rest[used]);
      }
      ++used;
    } else {
      used = std::min(rest.find(';'), rest.size());
      value = std::string(trim(rest.substr(0, used)));
    }
    if (match) {
      return value;
    }
    const std::size_t next = rest.find(';', std::min(used, rest.size()));
    pos = next == std::string_view::npos ? next : content_type.size() - rest.size() + next;
  }
  return {};
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

// One delimiter line of a multipart body: where it starts, where its line ends (after the
// CRLF), and whether it closes the multipart.
struct Delimiter {
  std::size_t start;
  std::size_t end;
  bool close;
};

std::vector<Delimiter> delimiters(std::string_view body, std::string_view boundary) {
  const std::string dash = "--" + std::string(boundary);
  std::vector<Delimiter> out;
  for (std::size_t p = 0; p < body.size();) {
    std::size_t eol = body.find("\r\n", p);
    const std::size_t end = eol == std::string_view::npos ? body.size() : eol + 2;
    const std::string_view line = body.substr(p, end - p);
    if (line.starts_with(dash)) {
      const std::string_view after = trim(line.substr(dash.size(), line.size() - dash.size()));
      const bool close = after.starts_with("--");
      if (trim(close ? after.substr(2) : after).find_first_not_of("\r\n") == std::string::npos) {
        out.push_back({p, end, close});
        if (close) {
          break;
        }
      }
    }
    p = end;
  }
  return out;
}

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
