// SMTP replies (RFC 5321 section 4.2) with enhanced status codes (RFC 3463, RFC 2034) on every
// line. Pure formatting; the catalogue of the server's replies lives with the server.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace txmail::smtp {

struct Reply {
  int code = 250;
  std::string enhanced = "2.0.0";  // "x.y.z"; empty only for the greeting and EHLO lines
  std::vector<std::string> lines;  // at least one line, none containing CR or LF

  Reply() = default;

  Reply(int c, std::string e, std::string text) : code(c), enhanced(std::move(e)) {
    lines.push_back(std::move(text));
  }

  bool positive() const { return code >= 200 && code < 400; }

  bool transient() const { return code >= 400 && code < 500; }

  bool permanent() const { return code >= 500; }

  // The reply as sent: "250-first\r\n250 last\r\n", the enhanced code after the basic one.
  std::string wire() const;
  void append_wire(std::string& out) const;
};

// One line of a server's reply (RFC 5321 section 4.2): its code, whether it is the last line
// ("250 " rather than "250-") and its text; false if it is not a reply line. Pure: the client
// reads remote servers' replies with it, and a fuzz target checks it.
bool parse_reply_line(std::string_view line, int& code, bool& last, std::string& text);

}  // namespace txmail::smtp
