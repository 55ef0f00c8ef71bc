// Structured logging on spdlog: one line per event, "key=value" pairs after a short message.
// Every line about a job carries job=<id>. init_logging() is called once by the app.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace txmail {

void init_logging(const std::string& level, const std::string& file);
std::shared_ptr<spdlog::logger> logger();

// A value from a peer made safe for one log line or header: control characters, spaces and
// non-ASCII octets become '?', and it is cut at 200 characters.
std::string printable(std::string_view s);

}  // namespace txmail
