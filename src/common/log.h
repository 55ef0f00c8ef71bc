// Structured logging on spdlog: one line per event, "key=value" pairs after a short message.
// Every line about a job carries job=<id>. init_logging() is called once by the app.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace txmail {

void init_logging(const std::string& level, const std::string& file);
std::shared_ptr<spdlog::logger> logger();

}  // namespace txmail
