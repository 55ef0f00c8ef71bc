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

}  // namespace txmail::smtp
