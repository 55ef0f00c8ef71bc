#include "mime/control_fields.h"

#include <algorithm>

#include "mime/headers.h"

namespace txmail::mime {

namespace {

bool istarts(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size()
         && std::equal(prefix.begin(), prefix.end(), s.begin(), [](char a, char b) {
              return std::toupper(static_cast<unsigned char>(a))
                     == std::toupper(static_cast<unsigned char>(b));
            });
}

std::string trim(std::string_view v) {
  const std::size_t b = v.find_first_not_of(" \t");
  if (b == std::string_view::npos) {
    return {};
  }
  const std::size_t e = v.find_last_not_of(" \t");
  return std::string(v.substr(b, e - b + 1));
}

}  // namespace

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
std::pair<ControlFields, std::string> extract_control_fields(std::string& message) {
  ControlFields out;
  std::string problem;
  const std::size_t header_end = header_section(message).size();
  // The header section without the control fields, built only once one is found: most
  // messages have none, and then nothing is copied.
  std::string kept;
  std::size_t total_header_chars = 0;
  std::size_t pos = 0;
  while (pos < header_end) {
    // One field: its first line and its folded continuation lines.
    std::size_t end = message.find("\r\n", pos);
    end = end == std::string::npos || end > header_end ? header_end : end + 2;
    while (end < header_end && (message[end] == ' ' || message[end] == '\t')) {
      const std::size_t next = message.find("\r\n", end);
      end = next == std::string::npos || next > header_end ? header_end : next + 2;
    }
    const std::string_view field(message.data() + pos, end - pos);
    std::string_view name;
    if (istarts(field, "X-TXMAIL-")) {
      name = field.substr(9);
    } else if (istarts(field, "X-RETARUS-M4A-")) {
      name = field.substr(14);
    } else {
      if (out.removed > 0) {
        kept.append(field);
      }
      pos = end;
      continue;
    }
    if (out.removed++ == 0) {
      kept.assign(message, 0, pos);
    }
    const std::size_t colon = name.find(':');
    std::string value;
    for (char c : name.substr(colon == std::string_view::npos ? name.size() : colon + 1)) {
      if (c != '\r' && c != '\n') {
        value.push_back(c);  // unfolded
      }
    }
    value = trim(value);
    name = trim(name.substr(0, colon == std::string_view::npos ? 0 : colon)).empty()
               ? std::string_view()
               : name.substr(0, colon);
    auto is = [&name](std::string_view n) {
      return name.size() == n.size() && istarts(name, n);
    };
    auto limited = [&](std::string& slot, std::size_t max, const char* what) {
      if (value.size() > max) {
        problem = std::string(what) + " is longer than " + std::to_string(max) + " characters";
      } else {
        slot = value;
      }
    };
    if (is("NOTIFICATION-URL")) {
      limited(out.notification_url, 1000, "the notification URL");
      if (!out.notification_url.empty() && !istarts(out.notification_url, "https://")
          && !istarts(out.notification_url, "http://")) {
        problem = "the notification URL must be http or https";
      }
    } else if (is("NOTIFICATION-HEADER")) {
      const std::size_t eq = value.find('=');
      if (eq == std::string::npos || eq == 0) {
        problem = "a notification header must be key=value";
      } else {
        std::string key = trim(std::string_view{value}.substr(0, eq));
        std::string v = trim(std::string_view{value}.substr(eq + 1));
        total_header_chars += key.size() + v.size();
        const bool dup = std::any_of(out.notification_headers.begin(),
                                     out.notification_headers.end(), [&key](const auto& h) {
                                       return istarts(h.first, key) && h.first.size() == key.size();
                                     });
        if (dup) {
          problem = "the notification header " + key + " is given twice";
        }
        out.notification_headers.emplace_back(std::move(key), std::move(v));
      }
    } else if (is("NOTIFICATION-AUTH-METHOD")) {
      out.auth_method = value;
      if (!istarts(value, "BASIC") || value.size() != 5) {
        problem = "the notification auth method must be BASIC";
      }
    } else if (is("NOTIFICATION-AUTH-USER")) {
      limited(out.auth_user, 256, "the notification user");
    } else if (is("NOTIFICATION-AUTH-PASSWORD")) {
      limited(out.auth_password, 256, "the notification password");
    } else if (is("REFERENCE")) {
      limited(out.reference, 50, "the reference");
    } else if (is("CAMPAIGN-ID")) {
      limited(out.campaign_id, 50, "the campaign id");
    } else if (is("COST-CENTER")) {
      limited(out.cost_center, 50, "the cost center");
    }
    pos = end;
  }
  if (total_header_chars > 1000) {
    problem = "the notification headers are longer than 1000 characters together";
  }
  if (out.removed > 0) {
    message = kept + message.substr(header_end);
  }
  return {std::move(out), std::move(problem)};
}

}  // namespace txmail::mime
