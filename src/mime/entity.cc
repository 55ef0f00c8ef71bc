#include "mime/entity.h"

#include <algorithm>

#include "mime/headers.h"

namespace txmail::mime {

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

std::vector<std::string_view> body_parts(std::string_view body, std::string_view boundary) {
  const auto marks = delimiters(body, boundary);
  std::vector<std::string_view> out;
  for (std::size_t k = 0; k < marks.size() && !marks[k].close; ++k) {
    const std::size_t next = k + 1 < marks.size() ? marks[k + 1].start : body.size();
    const bool crlf = k + 1 < marks.size() && next >= marks[k].end + 2;
    const std::size_t stop = crlf ? next - 2 : next;
    out.push_back(body.substr(marks[k].end, stop - marks[k].end));
  }
  return out;
}

}  // namespace txmail::mime
