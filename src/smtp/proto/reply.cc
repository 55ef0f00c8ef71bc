#include "smtp/proto/reply.h"

#include <fmt/format.h>

namespace txmail::smtp {

void Reply::append_wire(std::string& out) const {
  const std::size_t n = lines.empty() ? 1 : lines.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char sep = i + 1 == n ? ' ' : '-';
    const std::string& text = lines.empty() ? std::string() : lines[i];
    if (enhanced.empty()) {
      fmt::format_to(std::back_inserter(out), "{}{}{}\r\n", code, sep, text);
    } else {
      fmt::format_to(std::back_inserter(out), "{}{}{} {}\r\n", code, sep, enhanced, text);
    }
  }
}

std::string Reply::wire() const {
  std::string out;
  append_wire(out);
  return out;
}

bool parse_reply_line(std::string_view line, int& code, bool& last, std::string& text) {
  const auto digit = [](char c) {
    return c >= '0' && c <= '9';
  };
  // Reply codes start with 2 to 5 (RFC 5321 section 4.2); "100" or "999" from a remote server
  // is no reply (found by fuzz/smtp_reply_fuzz.cc).
  if (line.size() < 3 || line[0] < '2' || line[0] > '5' || !digit(line[1]) || !digit(line[2])) {
    return false;
  }
  if (line.size() > 3 && line[3] != ' ' && line[3] != '-') {
    return false;
  }
  code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  last = line.size() == 3 || line[3] == ' ';
  text = line.size() > 4 ? std::string(line.substr(4)) : std::string();
  return true;
}

}  // namespace txmail::smtp
