#include "dkim/canon.h"

#include "dkim/body_canon.h"

namespace txmail::dkim {

namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

MessageParts split_message(std::string_view message) {
  if (message.starts_with("\r\n")) {
    return {message.substr(0, 0), message.substr(2)};
  }
  const std::size_t blank = message.find("\r\n\r\n");
  if (blank == std::string_view::npos) {
    return {message, message.substr(message.size())};
  }
  return {message.substr(0, blank + 2), message.substr(blank + 4)};
}

std::vector<HeaderField> header_fields(std::string_view headers) {
  std::vector<HeaderField> fields;
  std::size_t pos = 0;
  while (pos < headers.size()) {
    // A field runs until a CRLF not followed by white space (a fold).
    std::size_t end = pos;
    while (true) {
      const std::size_t eol = headers.find("\r\n", end);
      if (eol == std::string_view::npos) {
        end = headers.size();
        break;
      }
      end = eol + 2;
      if (end >= headers.size() || !is_wsp(headers[end])) {
        break;
      }
    }
    const std::string_view raw = headers.substr(pos, end - pos);
    pos = end;
    const std::size_t colon = raw.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      continue;
    }
    std::string_view name = raw.substr(0, colon);
    while (!name.empty() && is_wsp(name.back())) {
      name.remove_suffix(1);
    }
    fields.push_back(HeaderField{name, raw});
  }
  return fields;
}

void canonicalize_header(Canon canon, std::string_view raw, std::string& out) {
  if (canon == Canon::kSimple) {
    out.append(raw);
    if (!raw.ends_with("\r\n")) {
      out.append("\r\n");
    }
    return;
  }
  const std::size_t colon = raw.find(':');
  std::string_view name = raw.substr(0, colon);
  while (!name.empty() && is_wsp(name.back())) {
    name.remove_suffix(1);
  }
  for (char c : name) {
    out.push_back(lower(c));
  }
  out.push_back(':');
  // Unfold, make white-space runs one space, drop white space at both ends of the value.
  const std::size_t start = out.size();
  bool space = false;
  for (std::size_t i = colon + 1; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '\r' || c == '\n') {
      continue;
    }
    if (is_wsp(c)) {
      space = true;
      continue;
    }
    if (space && out.size() > start) {
      out.push_back(' ');
    }
    space = false;
    out.push_back(c);
  }
  out.append("\r\n");
}

std::string canonicalize_body(Canon canon, std::string_view body) {
  return detail::canonicalize_body_with(canon, body, detail::best_scanner());
}

Digest body_hash(Canon canon, std::string_view body) {
  return detail::body_hash_with(canon, body, detail::best_scanner());
}

std::string_view canon_name(Canon canon) {
  switch (canon) {
    case Canon::kSimple:
      return "simple";
    case Canon::kRelaxed:
      return "relaxed";
  }
  return "relaxed";
}

bool parse_canon(std::string_view name, Canon& out) {
  if (name == "simple") {
    out = Canon::kSimple;
    return true;
  }
  if (name == "relaxed") {
    out = Canon::kRelaxed;
    return true;
  }
  return false;
}

}  // namespace txmail::dkim
