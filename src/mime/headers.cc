#include "mime/headers.h"

#include <fmt/format.h>

#include <ctime>

namespace txmail::mime {

namespace {
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}
}  // namespace

std::string_view header_section(std::string_view message) {
  if (message.starts_with("\r\n")) {
    return {};
  }
  const std::size_t end = message.find("\r\n\r\n");
  return end == std::string_view::npos ? message : message.substr(0, end + 2);
}

bool has_field(std::string_view headers, std::string_view name) {
  std::size_t pos = 0;
  while (pos < headers.size()) {
    const std::size_t eol = headers.find("\r\n", pos);
    const std::string_view line =
        headers.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    if (line.size() > name.size() && line[name.size()] == ':') {
      bool same = true;
      for (std::size_t i = 0; i < name.size() && same; ++i) {
        same = lower(line[i]) == lower(name[i]);
      }
      if (same) {
        return true;
      }
    }
    if (eol == std::string_view::npos) {
      break;
    }
    pos = eol + 2;
  }
  return false;
}

std::vector<std::string> field_values(std::string_view headers, std::string_view name) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < headers.size()) {
    std::size_t eol = headers.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      eol = headers.size();
    }
    const std::string_view line = headers.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty() || line[0] == ' ' || line[0] == '\t') {
      continue;  // a continuation of a field already read
    }
    const std::size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon == std::string_view::npos ? 0 : colon);
    while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) {
      field.remove_suffix(1);
    }
    bool same = colon != std::string_view::npos && field.size() == name.size();
    for (std::size_t i = 0; i < name.size() && same; ++i) {
      same = lower(field[i]) == lower(name[i]);
    }
    if (!same) {
      continue;
    }
    std::string value(line.substr(colon + 1));
    // Folded continuation lines belong to this field.
    while (pos < headers.size() && (headers[pos] == ' ' || headers[pos] == '\t')) {
      std::size_t next = headers.find("\r\n", pos);
      if (next == std::string_view::npos) {
        next = headers.size();
      }
      value.append(headers.substr(pos, next - pos));
      pos = next + 2;
    }
    out.push_back(std::move(value));
  }
  return out;
}

namespace {

// The addr-spec is inside angle brackets when there is a display name; otherwise the value
// itself (comments in parentheses aside).
std::string_view addr_spec(std::string_view v) {
  std::string_view addr = v;
  const std::size_t open = v.find('<');
  if (open != std::string_view::npos) {
    const std::size_t close = v.find('>', open);
    addr = v.substr(open + 1,
                    close == std::string_view::npos ? std::string_view::npos : close - open - 1);
  } else {
    const std::size_t comma = addr.find(',');
    addr = addr.substr(0, comma);
    const std::size_t paren = addr.find('(');
    addr = addr.substr(0, paren);
  }
  while (!addr.empty() && (addr.front() == ' ' || addr.front() == '\t')) {
    addr.remove_prefix(1);
  }
  while (!addr.empty() && (addr.back() == ' ' || addr.back() == '\t')) {
    addr.remove_suffix(1);
  }
  return addr;
}

}  // namespace

std::string address_of(std::string_view from_value) {
  return std::string(addr_spec(from_value));
}

std::string address_domain(std::string_view v) {
  const std::string_view addr = addr_spec(v);
  const std::size_t at = addr.rfind('@');
  if (at == std::string_view::npos) {
    return {};
  }
  std::string domain;
  for (char c : addr.substr(at + 1)) {
    if (c == ' ' || c == '\t') {
      if (!domain.empty()) {
        break;
      }
      continue;
    }
    domain.push_back(lower(c));
  }
  while (!domain.empty() && domain.back() == '.') {
    domain.pop_back();
  }
  return domain;
}

std::string rfc5322_date(std::chrono::system_clock::time_point t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{}, {:02d} {} {} {:02d}:{:02d}:{:02d} +0000", kDays[tm.tm_wday], tm.tm_mday,
                     kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace txmail::mime
